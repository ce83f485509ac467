"""The numpy-facing inference API every model of the zoo shares.

`SequentialRecommender` is a `keras.Model` base class: validated history
batches in, numpy scores out (`predict`, `score`, `step_scores`,
`reasoning_states`, `scores_from_states`, `recommend`). A subclass provides
the forward pieces:

- `_states(histories, steps=None, training=False)` -> `{"states": [B, S, d]}`
  (a reasoner that halts rows early adds `"step_mask"` `[B, S]`, the
  valid steps per row, which `user_vectors` passes to the pooling);
- `_logits(vectors)` -> catalog scores `[B, num_items + 1]`, padding masked;
- `inference_pooling`: `"mean"` or `"last"`, how `scores_from_states`
  reads the states by default;
- the attributes `num_items`, `max_length`, `reasoning_steps` (the trained
  depth), `max_steps` (the deepest `steps` allowed; None: any) and
  `base_temperature` (τ, dividing the pooled state);
- `uses_timestamps` (default False): True for a model that reads the
  history items' timestamps (HSTU's time bias). Its inputs are then
  `{"histories": [B, L], "timestamps": [B, L]}` everywhere (call, `predict`,
  `score`, `recommend`, ...; or `timestamps=`), `_states` takes
  `timestamps=` (float32, row-relative), and plain histories are refused.
"""

from __future__ import annotations

import keras
import numpy as np

from rearec_keras.data.splits import model_input
from rearec_keras.utils.tensors import concrete_values
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_int

# `pooling` of `score` (None: the learning method's own).
POOLINGS = (None, "mean", "last")


def _is_tf_dataset(x):
    import sys

    tf = sys.modules.get("tensorflow")  # a dataset exists only if TF is loaded
    return tf is not None and isinstance(x, tf.data.Dataset)


def _as_history_array(histories):
    if isinstance(histories, (list, tuple)):
        lengths = {len(row) for row in histories if isinstance(row, (list, tuple, np.ndarray))}
        if len(lengths) > 1:
            raise ValueError(
                f"history rows have different lengths ({min(lengths)} to {max(lengths)} "
                "items); give a rectangular batch: left-pad every row with 0 to the same "
                "length, newest item last, e.g. "
                "keras.utils.pad_sequences(rows, maxlen=max_length, padding='pre')."
            )
        return np.asarray(histories)
    values = concrete_values(histories)
    if values is None:
        values = np.asarray(keras.ops.convert_to_numpy(histories))
    return np.asarray(values)


class SequentialRecommender(keras.Model):
    """Base class of the zoo's models: the inference API, once.

    See the module docstring for what a subclass implements.
    """

    @property
    def uses_timestamps(self) -> bool:
        """Whether the model reads the history items' timestamps (inputs
        `{"histories", "timestamps"}`); False here."""
        return False

    def check_inputs(self, inputs, timestamps=None):
        """Validate model inputs: `(histories int32 [n, L], timestamps)`.

        `inputs` is a history batch or a dict `{"histories", "timestamps"}`;
        `timestamps` may come separately instead. The timestamps (numeric,
        the histories' shape, finite) are returned as float32, each row
        minus its newest item's (`rearec_keras.data.relative_timestamps`);
        None for a model that does not read them.

        Raises:
            ValueError: what `check_histories` refuses; timestamps missing
                for a model that reads them (`uses_timestamps`), given to
                one that does not, or of the wrong shape or type.
        """
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - {"histories", "timestamps"})
            if unknown or "histories" not in inputs:
                raise ValueError(f"inputs given as a dict need 'histories' (and 'timestamps'); "
                                 f"got keys {sorted(inputs)}")
            if timestamps is not None and inputs.get("timestamps") is not None:
                raise ValueError("timestamps given twice: in the inputs dict and as timestamps=")
            if inputs.get("timestamps") is not None:
                timestamps = inputs["timestamps"]
            inputs = inputs["histories"]
        arr = self.check_histories(inputs)
        return arr, self.check_timestamps(arr, timestamps)

    def check_timestamps(self, histories, timestamps):
        """The timestamps of validated `histories` as the model reads them
        (float32, row-relative), or None; see `check_inputs`."""
        name = type(self).__name__
        if timestamps is None:
            if self.uses_timestamps:
                raise ValueError(
                    f"this {name} has a time bias (time_buckets={getattr(self, 'time_buckets', '?')})"
                    " and reads the history items' timestamps: pass timestamps= [n, L] (or "
                    "{'histories': ..., 'timestamps': ...}), one per history slot in the data's "
                    "time unit (padding slots any value)"
                )
            return None
        if not self.uses_timestamps:
            raise ValueError(
                f"timestamps were given but this {name} does not read them (no time bias; "
                "HSTU reads them with time_buckets > 0)"
            )
        from rearec_keras.data.splits import relative_timestamps

        values = concrete_values(timestamps)
        values = np.asarray(timestamps if values is None else values)
        if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"timestamps must be numbers (one per history slot), got dtype "
                             f"{values.dtype}")
        if values.shape != histories.shape:
            raise ValueError(
                f"timestamps must have the histories' shape {histories.shape} (one per item "
                f"slot); got {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("timestamps must be finite numbers; found NaN or infinity")
        return relative_timestamps(values)

    @staticmethod
    def _time_options(ts, rows=slice(None)):
        """`_states` options carrying the timestamps of `rows` (if any)."""
        return {} if ts is None else {"timestamps": ts[rows]}

    @property
    def max_steps(self):
        """The deepest `steps` the model can run (None: unbounded)."""
        return self.reasoning_steps

    def check_histories(self, histories) -> np.ndarray:
        """Validate a history batch and return it as int32 numpy.

        Raises:
            ValueError: rows of different lengths (ragged lists), wrong
                rank, non-integer values, ids outside `0..num_items`,
                histories longer than `max_length`, or a row without any
                real item.
        """
        arr = _as_history_array(histories)
        if arr.ndim != 2:
            raise ValueError(
                f"histories must be 2-D [batch, length] item ids (left-padded with 0); "
                f"got shape {arr.shape}."
            )
        if arr.dtype == np.bool_ or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise ValueError(f"histories must hold integer item ids, got dtype {arr.dtype}.")
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise ValueError("histories must hold integer item ids; found non-integral values.")
        if arr.shape[1] > self.max_length:
            raise ValueError(
                f"histories have length {arr.shape[1]} but the model reads at most "
                f"max_length={self.max_length}; keep the last {self.max_length} items."
            )
        self.check_item_ids(arr)
        empty = ~(arr != 0).any(axis=1)
        if empty.any():
            raise ValueError(
                f"history row {int(np.argmax(empty))} is empty (only padding); every row "
                "needs at least one item."
            )
        return arr.astype(np.int32)

    def check_item_ids(self, values):
        """Raises `ValueError` for an item id outside `0..num_items` (0 is
        padding): numpy indexing would wrap a negative id around to another
        item, and TensorFlow's gather fails deep inside the model."""
        arr = np.asarray(values)
        if arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
            return
        bad = (arr < 0) | (arr > self.num_items)
        if bad.any():
            where = np.argwhere(bad)[0]
            row, col = (int(where[0]), int(where[1])) if arr.ndim == 2 else (int(where[0]), 0)
            raise ValueError(
                f"history contains item id {int(arr[tuple(where)])} (row {row}, column {col}) "
                f"but the model knows {self.num_items} items (ids 1..{self.num_items}; "
                "0 is padding)."
            )

    def __call__(self, *args, **kwargs):
        # Ids are checked whenever their values are known (eager calls,
        # `predict_on_batch`, the evaluator); inside a traced function
        # (`fit`, `predict`'s compiled step) they were checked on the way in.
        if args and not kwargs.get("training", False):
            inputs = args[0]
            if isinstance(inputs, dict) and "histories" in inputs:
                inputs = inputs["histories"]
                stamps = args[0].get("timestamps")
                values = None if stamps is None else concrete_values(stamps)
                if values is not None and values.ndim == 2 and self.uses_timestamps:
                    # Row-relative in numpy: int64 epochs stay exact on every backend.
                    from rearec_keras.data.splits import relative_timestamps

                    args = ({**args[0], "timestamps": relative_timestamps(values)}, *args[1:])
            if isinstance(inputs, list):  # rows of ids (ragged ones get a clear error)
                inputs = _as_history_array(inputs)
            values = concrete_values(inputs)
            if values is not None:
                self.check_item_ids(values)
        return super().__call__(*args, **kwargs)

    def predict_on_batch(self, x):
        """Scores of one batch `[b, num_items + 1]`; ids are checked first.
        `x`: histories, or `{"histories", "timestamps"}` (`check_inputs`)."""
        arr, ts = self.check_inputs(x)
        if len(arr) == 0:
            return self._empty_scores()
        return super().predict_on_batch(model_input(arr, ts))

    def _check_steps(self, steps):
        """`steps` as an int (None: the trained depth). Reasoners that
        extrapolate (`max_steps=None`) accept any depth >= 0."""
        if steps is None:
            return self.reasoning_steps
        check_int("steps", steps, 0)
        limit = self.max_steps
        if limit is not None and steps > limit:
            raise ValueError(
                f"steps={steps} exceeds the reasoning_steps={limit} the model "
                "was built with."
            )
        return int(steps)

    def predict(self, x, *args, **kwargs):
        """Scores `[n, num_items + 1]`; the padding column is `-1e9`.

        Every input is checked for ids outside `0..num_items`: arrays,
        lists and tensors before anything runs, a `tf.data.Dataset` batch by
        batch as it is read (the same `ValueError`).
        """
        if _is_tf_dataset(x):
            return self._predict_dataset(x, *args, **kwargs)
        if (concrete_values(x) is not None or isinstance(x, (list, tuple))
                or (isinstance(x, dict) and concrete_values(x.get("histories")) is not None)):
            arr, ts = self.check_inputs(x)
            if len(arr) == 0:
                return self._empty_scores()
            x = model_input(arr, ts)
        return super().predict(x, *args, **kwargs)

    def _empty_scores(self):
        return np.zeros((0, self.num_items + 1), dtype="float32")

    def _predict_dataset(self, dataset, *args, **kwargs):
        import tensorflow as tf

        failure = []

        def check(histories):
            try:
                self.check_histories(histories)
            except ValueError as e:
                failure.append(str(e))
                raise
            return np.zeros((), dtype=np.int32)

        def checked(*element):  # (histories,) or (histories, targets, ...)
            histories = tf.nest.flatten(element[0])[0]
            with tf.control_dependencies([tf.numpy_function(check, [histories], tf.int32)]):
                out = tf.nest.map_structure(tf.identity, element)
            return out if len(out) > 1 else out[0]

        try:
            return super().predict(dataset.map(checked), *args, **kwargs)
        except tf.errors.OpError:
            if failure:
                raise ValueError(failure[0]) from None
            raise

    def reasoning_states(self, histories, steps=None, batch_size=256,
                         timestamps=None) -> np.ndarray:
        """The reasoning states `[n, steps + 1, d]` (eval mode). `histories`
        may be `{"histories", "timestamps"}` (or pass `timestamps=`): a
        model with a time bias needs them (`check_inputs`)."""
        arr, ts = self.check_inputs(histories, timestamps)
        return self._reasoning_states(arr, self._check_steps(steps), batch_size, ts)

    def _reasoning_states(self, arr, steps, batch_size, ts=None):
        if len(arr) == 0:
            return np.zeros((0, steps + 1, self.hidden_dim), dtype="float32")
        out = [
            keras.ops.convert_to_numpy(
                self._states(arr[i : i + batch_size], steps=steps, training=False,
                             **self._time_options(ts, slice(i, i + batch_size)))["states"]
            )
            for i in range(0, len(arr), batch_size)
        ]
        return np.concatenate(out)

    def step_scores(self, histories, steps=None, batch_size=256, timestamps=None) -> np.ndarray:
        """Scores of every reasoning step, `[n, steps + 1, num_items + 1]`."""
        states = self.reasoning_states(histories, steps=steps, batch_size=batch_size,
                                       timestamps=timestamps)
        return self.scores_from_states(states, pooling="each", batch_size=batch_size)

    def score(self, histories, steps=None, pooling=None, batch_size=256,
              timestamps=None) -> np.ndarray:
        """Scores `[n, num_items + 1]` with `steps` reasoning steps.

        Args:
            histories: int `[n, L]`, or `{"histories", "timestamps"}`.
            steps: reasoning steps to run (default: all K); fewer than
                trained is allowed.
            pooling: `"mean"` (ERL's inference), `"last"` (PRL's) or None
                for the learning method's own.
            timestamps: `[n, L]` timestamps of the history items, for a
                model that reads them (`uses_timestamps`; see
                `check_inputs`).
        """
        arr, ts = self.check_inputs(histories, timestamps)
        return self._score(arr, self._check_steps(steps), pooling, batch_size, ts)

    def _score(self, arr, steps, pooling, batch_size, ts=None):
        check_choice("pooling", pooling, POOLINGS)  # before the encoder runs
        return self.scores_from_states(
            self._reasoning_states(arr, steps, batch_size, ts), pooling, batch_size
        )

    def scores_from_states(self, states, pooling=None, batch_size=None) -> np.ndarray:
        """Catalog scores from reasoning states `[n, S, d]`.

        Scores several views of one encoder pass, e.g. every step and the
        model's own inference, without running the encoder again.

        Args:
            states: `[n, S, d]`, e.g. from `reasoning_states`.
            pooling: `"each"`: one score row per state, `[n, S, N + 1]`;
                `"mean"` / `"last"`: scores of the mean / last state,
                `[n, N + 1]`; None: `inference_pooling` (the learning
                method's own).
            batch_size: rows scored at a time (None: all at once).
        """
        check_choice("pooling", pooling, POOLINGS + ("each",))
        states = np.asarray(states)
        if pooling != "each":
            pooling = pooling or self.inference_pooling
            states = states.mean(axis=1) if pooling == "mean" else states[:, -1]
        if len(states) == 0:
            shape = (0, states.shape[1]) if pooling == "each" else (0,)
            return np.zeros(shape + (self.num_items + 1,), dtype="float32")
        size = batch_size or max(len(states), 1)
        return np.concatenate([
            keras.ops.convert_to_numpy(
                self._logits(states[i : i + size] / self.base_temperature)
            )
            for i in range(0, max(len(states), 1), size)
        ])

    def recommend(self, histories, k=10, exclude_history=False, steps=None, batch_size=256,
                  halting=None, thresholds=None, timestamps=None):
        """Top-k item ids and scores per history.

        `halting` (`"kl"`, `"all"`, `"weighted"`, `"learned"`) stops each
        user's reasoning on its own (`score_with_halting`, with
        `thresholds`); None runs every step. A model that reads timestamps
        (`uses_timestamps`) needs them: `timestamps=` `[n, L]` or
        `histories` as `{"histories", "timestamps"}`.

        Returns:
            `(ids, scores)`: int32 `[n, k]` and float32 `[n, k]`, best
            first. Padding (id 0) is never returned; with
            `exclude_history=True` items already in the history are not
            recommended either.
        """
        arr, ts = self.check_inputs(histories, timestamps)
        check_int("k", k, 1, self.num_items)
        steps = self._check_steps(steps)
        if halting is not None and not hasattr(self, "score_with_halting"):
            raise ValueError(f"{type(self).__name__} cannot halt per user; pass halting=None")
        ids = [np.zeros((0, k), dtype=np.int32)]
        values = [np.zeros((0, k), dtype=np.float32)]
        for i in range(0, len(arr), batch_size):
            batch = arr[i : i + batch_size]
            batch_ts = None if ts is None else ts[i : i + batch_size]
            if halting is None:
                scores = self._score(batch, steps, None, batch_size, batch_ts)
            else:
                scores, _ = self.score_with_halting(model_input(batch, batch_ts), halting,
                                                    thresholds, steps, batch_size=batch_size)
            if exclude_history:
                rows = np.repeat(np.arange(len(batch)), batch.shape[1])
                scores[rows, batch.ravel()] = -np.inf
            # Rank items 1..N only: padding is never returned, even when k
            # exceeds the unseen items (their tail is seen items at -inf).
            scores = scores[:, 1:]
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            ids.append(np.take_along_axis(top, order, axis=1).astype(np.int32) + 1)
            values.append(np.take_along_axis(top_scores, order, axis=1).astype(np.float32))
        return np.concatenate(ids), np.concatenate(values)
