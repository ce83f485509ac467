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
  `base_temperature` (τ, dividing the pooled state).
"""

from __future__ import annotations

import keras
import numpy as np

from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_int

# `pooling` of `score` (None: the learning method's own).
POOLINGS = (None, "mean", "last")


class SequentialRecommender(keras.Model):
    """Base class of the zoo's models: the inference API, once.

    See the module docstring for what a subclass implements.
    """

    @property
    def max_steps(self):
        """The deepest `steps` the model can run (None: unbounded)."""
        return self.reasoning_steps

    def check_histories(self, histories) -> np.ndarray:
        """Validate a history batch and return it as int32 numpy.

        Raises:
            ValueError: wrong rank, non-integer values, ids outside
                `0..num_items`, histories longer than `max_length`, or a row
                without any real item.
        """
        arr = np.asarray(keras.ops.convert_to_numpy(histories))
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
        bad = (arr < 0) | (arr > self.num_items)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"history contains item id {int(arr[row, col])} (row {row}, column {col}) "
                f"but the model knows {self.num_items} items (ids 1..{self.num_items}; "
                "0 is padding)."
            )
        empty = ~(arr != 0).any(axis=1)
        if empty.any():
            raise ValueError(
                f"history row {int(np.argmax(empty))} is empty (only padding); every row "
                "needs at least one item."
            )
        return arr.astype(np.int32)

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
        """Scores `[n, num_items + 1]`; the padding column is `-1e9`."""
        if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
            x = self.check_histories(x)
        return super().predict(x, *args, **kwargs)

    def reasoning_states(self, histories, steps=None, batch_size=256) -> np.ndarray:
        """The reasoning states `[n, steps + 1, d]` (eval mode)."""
        return self._reasoning_states(
            self.check_histories(histories), self._check_steps(steps), batch_size
        )

    def _reasoning_states(self, arr, steps, batch_size):
        out = [
            keras.ops.convert_to_numpy(
                self._states(arr[i : i + batch_size], steps=steps, training=False)["states"]
            )
            for i in range(0, len(arr), batch_size)
        ]
        return np.concatenate(out)

    def step_scores(self, histories, steps=None, batch_size=256) -> np.ndarray:
        """Scores of every reasoning step, `[n, steps + 1, num_items + 1]`."""
        states = self.reasoning_states(histories, steps=steps, batch_size=batch_size)
        return self.scores_from_states(states, pooling="each", batch_size=batch_size)

    def score(self, histories, steps=None, pooling=None, batch_size=256) -> np.ndarray:
        """Scores `[n, num_items + 1]` with `steps` reasoning steps.

        Args:
            steps: reasoning steps to run (default: all K); fewer than
                trained is allowed.
            pooling: `"mean"` (ERL's inference), `"last"` (PRL's) or None
                for the learning method's own.
        """
        return self._score(
            self.check_histories(histories), self._check_steps(steps), pooling, batch_size
        )

    def _score(self, arr, steps, pooling, batch_size):
        check_choice("pooling", pooling, POOLINGS)  # before the encoder runs
        return self.scores_from_states(
            self._reasoning_states(arr, steps, batch_size), pooling, batch_size
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
        size = batch_size or max(len(states), 1)
        return np.concatenate([
            keras.ops.convert_to_numpy(
                self._logits(states[i : i + size] / self.base_temperature)
            )
            for i in range(0, max(len(states), 1), size)
        ])

    def recommend(self, histories, k=10, exclude_history=False, steps=None, batch_size=256):
        """Top-k item ids and scores per history.

        Returns:
            `(ids, scores)`: int32 `[n, k]` and float32 `[n, k]`, best
            first. Padding (id 0) is never returned; with
            `exclude_history=True` items already in the history are not
            recommended either.
        """
        arr = self.check_histories(histories)
        check_int("k", k, 1, self.num_items)
        steps = self._check_steps(steps)
        ids, values = [], []
        for i in range(0, len(arr), batch_size):
            batch = arr[i : i + batch_size]
            scores = self._score(batch, steps, None, batch_size)
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
