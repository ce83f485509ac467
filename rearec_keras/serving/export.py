"""Export of a ReaRec model as a TensorFlow SavedModel for serving.

`export_serving` writes, with `keras.export.ExportArchive` (TensorFlow
backend only), a SavedModel whose endpoints are also its signatures:

* `encode(histories)` -> float32 `[batch, d]`: the user vectors
  (`model.user_vectors`, the learning method's pooled reasoning state over
  the base temperature). Catalog scores are `encode(h) · item_vectorsᵀ`.
* `top_k(histories, k)` -> `{"ids": int32 [batch, k], "scores": float32
  [batch, k]}`, best first: the same items and scores as
  `model.recommend(histories, k)`.
* `top_k_unseen(histories, k)`: the same, never recommending an item of the
  history (`model.recommend(..., exclude_history=True)`).
* `item_vectors()` -> float32 `[num_items + 1, d]`, row 0 is padding.
* `halting_steps(histories)` -> int32 `[batch]` (exports with `halting`
  only): the reasoning steps each user ran.
* `top_k_raw(raw_histories, k)` and `top_k_unseen_raw(raw_histories, k)`
  (exports with a `vocabulary`, which every run directory has): the same
  in the dataset's own ids. `raw_histories` is string `[batch, max_length]`,
  left-padded with `""` (integer ids as their decimal text); `ids` come back
  as strings. An id the vocabulary does not know is an error naming it.
  The vocabulary (with titles) is saved next to the SavedModel as
  `vocabulary.json`.

With `halting="kl"` (or `"all"`, `"weighted"`, `"learned"`, with
`thresholds`; see `rearec_keras.halting`) every endpoint stops each user's
reasoning at its own step, as `model.recommend(..., halting=...)` does: in
the graph, users that halted leave the batch, so their remaining steps are
never computed.

**Timestamps.** A model that reads the history items' timestamps (HSTU
with a time bias, `model.uses_timestamps`) is exported with an extra input
`timestamps`, int64 `[batch, max_length]` (the items' times in the data's
unit, e.g. Unix seconds, aligned with `histories`; padding slots any
value), right after the histories: `encode(histories, timestamps)`,
`top_k(histories, timestamps, k)`, `top_k_unseen(histories, timestamps,
k)`, `top_k_raw(raw_histories, timestamps, k)` and `top_k_unseen_raw`.
`serving.json` says `"timestamps": true`; `ServingModel` methods then
need `timestamps=`. Halting is refused for such a model (it feeds no
timestamps). Models without a time bias keep the signatures above.

`histories` is int32 `[batch, max_length]`, left-padded with 0 (the
signature fixes the length: pad shorter histories, keep the newest
`max_length` items of longer ones); `k` is a scalar int32 tensor. The
padding id 0 is never returned: ranking runs over the columns of items
1..num_items only. Equal scores come lower item id first. `k` must be in
`1..max_k` (default `max_k`: the whole catalog); a larger `k` is an error,
not clamped, so a response always has exactly `k` columns. With
`top_k_unseen`, when `k` exceeds the number of unseen items the tail is
filled with history items whose score is `-inf`. Item ids outside
`0..num_items`, empty rows (only padding) and a `k` out of range raise
`tf.errors.InvalidArgumentError` with a message that names the problem.

Next to `saved_model.pb`, `serving.json` records the catalog size, history
length, reasoning steps, learning method, `max_k` and the endpoints.
`load_serving(path)` reads an export back (numpy in, numpy out) with
TensorFlow alone.

Example:

```python
from rearec_keras.serving import export_serving, load_serving

export_serving(model, "exports/sasrec-prl")
served = load_serving("exports/sasrec-prl")       # or tf.saved_model.load
ids, scores = served.top_k(histories, k=10, exclude_history=True, ids="internal")
```

An export of a run directory also carries the run's vocabulary: then
`served.top_k([[50, 172]], k=10)` takes and returns the dataset's own ids
(the default of `ids=` for such an export), and `ids="internal"` the
internal 1..N as above.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from rearec_keras.utils.validation import check_int

SERVING_JSON = "serving.json"
FORMAT = "rearec_keras.serving/1"
ENDPOINTS = ("encode", "top_k", "top_k_unseen", "item_vectors")


class ExportError(ValueError):
    """An export cannot be written as asked (bad option, occupied path)."""


def _check_options(model, path, max_k, steps, overwrite, halting=None, thresholds=None):
    """Resolved `(max_k, steps, halting rule)`; raises before anything is
    traced."""
    try:
        max_k = model.num_items if max_k is None else check_int("max_k", max_k, 1, model.num_items)
        steps = model.reasoning_steps if steps is None else check_int(
            "steps", steps, 0, model.reasoning_steps)
    except ValueError as e:
        raise ExportError(
            f"{e} (the model has {model.num_items} items and reasoning_steps="
            f"{model.reasoning_steps})") from None
    rule = None
    if halting is not None:
        from rearec_keras.halting import check_rule

        if steps < 1:
            raise ExportError(f"halting={halting!r} needs reasoning steps to stop early; this "
                              f"export serves steps={steps}")
        try:
            model._halting_rule(halting, thresholds, None, "max")
            rule = {"mode": halting, "thresholds": check_rule(halting, thresholds)}
        except ValueError as e:
            raise ExportError(f"halting={halting!r}: {e}") from None
    elif thresholds:
        raise ExportError("halting thresholds were given without a halting mode")
    path = Path(path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        if not overwrite:
            raise ExportError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) "
                              "to replace an earlier export")
        if not (path.is_dir() and ((path / SERVING_JSON).exists()
                                   or (path / "saved_model.pb").exists())):
            raise ExportError(f"{path} exists and is not an earlier export (no {SERVING_JSON}); "
                              "refusing to replace it")
    return max_k, steps, rule


def export_serving(model, path, *, max_k: int | None = None, steps: int | None = None,
                   halting: str | None = None, thresholds: dict | None = None,
                   vocabulary=None, overwrite: bool = False, verbose: bool = False) -> dict:
    """Writes `model` as a serving SavedModel at `path` (TensorFlow backend).

    Args:
        model: a `ReaRecModel` (`ReaSASRec`, `SASRec`, ...); built if needed.
        path: output directory (the SavedModel and `serving.json`).
        max_k: largest `k` the `top_k` endpoints accept (default: the whole
            catalog, `num_items`).
        steps: reasoning steps to serve with (default: all K the model was
            trained with; fewer trade accuracy for latency).
        halting: per-user halting mode (`"kl"`, `"all"`, `"weighted"`,
            `"learned"`; default None: every user runs `steps`), with
            `thresholds` as in `model.recommend`. Adds the `halting_steps`
            endpoint.
        thresholds: the halting rule's thresholds (defaults filled in).
        vocabulary: a `rearec_keras.data.Vocabulary` of the model's items
            (a run's `vocabulary.json`): adds the raw-id endpoints and
            saves it with the export.
        overwrite: replace an earlier export at `path`.
        verbose: print Keras' summary of the endpoints.

    Returns:
        The `serving.json` content as a dict.

    Raises:
        RuntimeError: the Keras backend is not TensorFlow.
        TypeError: `model` is not a ReaRec model.
        ExportError: `max_k` or `steps` out of range, a halting mode the
            model cannot run or bad thresholds, or `path` is occupied.
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"export_serving writes a TensorFlow SavedModel and needs the TensorFlow backend; "
            f"the Keras backend is {backend!r}. Set KERAS_BACKEND=tensorflow (a .keras file saved "
            "under any backend loads there) and export again.")
    from rearec_keras.models import ReaRecModel

    if not isinstance(model, ReaRecModel):
        raise TypeError(f"export_serving needs a ReaRec model (ReaSASRec, SASRec, ...); "
                        f"got {type(model).__name__}")
    max_k, steps, rule = _check_options(model, path, max_k, steps, overwrite, halting,
                                        thresholds)
    if vocabulary is not None:
        try:
            vocabulary.check_model(model)
        except ValueError as e:
            raise ExportError(str(e)) from None
    if not model.built:
        model.build((None, model.max_length))

    import tensorflow as tf

    num_items, length = model.num_items, model.max_length
    histories_spec = tf.TensorSpec([None, length], tf.int32, name="histories")
    k_spec = tf.TensorSpec([], tf.int32, name="k")
    timed = bool(getattr(model, "uses_timestamps", False))
    # The model's inputs beyond the histories: the items' timestamps for a time bias.
    extra_specs = [tf.TensorSpec([None, length], tf.int64, name="timestamps")] if timed else []

    def checked(histories):
        asserts = [
            tf.debugging.assert_non_negative(
                histories, message=f"histories hold a negative item id; ids are 1..{num_items} "
                                   "and 0 is padding"),
            tf.debugging.assert_less_equal(
                histories, tf.constant(num_items, tf.int32),
                message=f"histories hold an item id above {num_items}; the model knows "
                        f"{num_items} items (ids 1..{num_items}; 0 is padding)"),
            tf.debugging.assert_equal(
                tf.reduce_all(tf.reduce_any(tf.not_equal(histories, 0), axis=1)), True,
                message="a history row is empty (only padding); every row needs at least "
                        "one item"),
        ]
        with tf.control_dependencies(asserts):
            return tf.identity(histories)

    def checked_k(k):
        asserts = [
            tf.debugging.assert_greater_equal(k, 1, message=f"k must be in 1..{max_k}"),
            tf.debugging.assert_less_equal(
                k, max_k, message=f"k must be in 1..{max_k} (max_k of this export)"),
        ]
        with tf.control_dependencies(asserts):
            return tf.identity(k)

    # One graph of the encoder, called by every endpoint (traced once, not
    # once per endpoint and per export pass).
    if rule is None:
        def user_vectors(histories, *extra):
            inputs = checked(histories)
            if extra:
                inputs = {"histories": inputs, "timestamps": extra[0]}
            return model.user_vectors(inputs, steps=steps)

        encode = tf.function(user_vectors, input_signature=[histories_spec, *extra_specs])
    else:
        halted = tf.function(
            lambda histories: model.halting_user_vectors(checked(histories), rule["mode"],
                                                         rule["thresholds"], steps),
            input_signature=[histories_spec])

        encode = tf.function(lambda histories: halted(histories)[0],
                             input_signature=[histories_spec])

    def item_scores(histories, extra):
        # Items 1..N only: padding (column 0) can never be ranked.
        return tf.matmul(encode(histories, *extra), model.item_vectors()[1:], transpose_b=True)

    def ranked(scores, k):
        values, columns = tf.math.top_k(scores, k=checked_k(k))  # ties: lower id first
        return {"ids": columns + 1, "scores": values}

    # `*inputs`: (histories, k) or, for a time bias, (histories, timestamps, k).
    def top_k(histories, *inputs):
        *extra, k = inputs
        return ranked(item_scores(histories, extra), k)

    def top_k_unseen(histories, *inputs):
        *extra, k = inputs
        scores = item_scores(histories, extra)
        batch = tf.shape(histories)[0]
        rows = tf.repeat(tf.range(batch), length)
        indices = tf.stack([rows, tf.reshape(histories, [-1])], axis=1)
        seen = tf.scatter_nd(indices, tf.ones_like(rows), tf.stack([batch, num_items + 1]))
        scores = tf.where(seen[:, 1:] > 0, tf.constant(-np.inf, tf.float32), scores)
        return ranked(scores, k)

    archive = keras.export.ExportArchive()
    archive.track(model)
    # `top_k` first: the first endpoint is also the `serving_default` signature.
    archive.add_endpoint("top_k", top_k, input_signature=[histories_spec, *extra_specs, k_spec])
    archive.add_endpoint("top_k_unseen", top_k_unseen,
                         input_signature=[histories_spec, *extra_specs, k_spec])
    archive.add_endpoint("encode", encode, input_signature=[histories_spec, *extra_specs])
    archive.add_endpoint("item_vectors", model.item_vectors, input_signature=[])
    if vocabulary is not None:
        _add_raw_id_endpoints(archive, vocabulary, length, top_k, top_k_unseen, extra_specs)
    if rule is not None:
        archive.add_endpoint("halting_steps", lambda histories: halted(histories)[1],
                             input_signature=[histories_spec])

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    archive.write_out(str(path), verbose=verbose)
    info = _serving_info(model, max_k, steps, rule, vocabulary)
    if vocabulary is not None:
        vocabulary.save(path)
    (path / SERVING_JSON).write_text(json.dumps(info, indent=2) + "\n")
    return info


def _add_raw_id_endpoints(archive, vocabulary, length, top_k, top_k_unseen, extra_specs=()):
    """`top_k_raw` / `top_k_unseen_raw`: string ids in and out, through an
    in-graph lookup table (`""` is padding; unknown ids fail by name)."""
    import tensorflow as tf

    keys = tf.constant([str(v) for v in vocabulary.items])
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            keys, tf.range(1, vocabulary.num_items + 1, dtype=tf.int32)), default_value=-1)
    archive.track(table)
    raw_spec = tf.TensorSpec([None, length], tf.string, name="raw_histories")
    k_spec = tf.TensorSpec([], tf.int32, name="k")
    names = tf.concat([tf.constant([""]), keys], axis=0)

    def internal(raw):
        ids = tf.where(tf.equal(raw, ""), 0, table.lookup(raw))
        unknown = tf.boolean_mask(raw, tf.equal(ids, -1))
        check = tf.debugging.Assert(
            tf.equal(tf.size(unknown), 0),
            ["unknown item id(s):", unknown[:5], "not in the vocabulary of this export"],
            summarize=5)
        with tf.control_dependencies([check]):
            return tf.identity(ids)

    def raw_answer(fn):
        def answer(raw_histories, *inputs):  # (k) or (timestamps, k)
            out = fn(internal(raw_histories), *inputs)
            return {"ids": tf.gather(names, out["ids"]), "scores": out["scores"]}
        return answer

    signature = [raw_spec, *extra_specs, k_spec]
    archive.add_endpoint("top_k_raw", raw_answer(top_k), input_signature=signature)
    archive.add_endpoint("top_k_unseen_raw", raw_answer(top_k_unseen), input_signature=signature)


def _serving_info(model, max_k, steps, rule=None, vocabulary=None):
    from rearec_keras.version import __version__

    histories = f"int32 [batch, {model.max_length}], left-padded with 0"
    timed = bool(getattr(model, "uses_timestamps", False))
    # A time bias reads each history item's timestamp: an input after the histories.
    times = ({"timestamps": f"int64 [batch, {model.max_length}], the history items' times in "
                            "the data's unit, aligned with the histories (padding: any)"}
             if timed else {})
    ranked = {"inputs": {"histories": histories, **times, "k": f"int32 scalar in 1..{max_k}"},
              "outputs": {"ids": "int32 [batch, k]", "scores": "float32 [batch, k]"}}
    endpoints = {
        "top_k": ranked,
        "top_k_unseen": {**ranked, "note": "history items excluded (score -inf if k "
                                           "exceeds the unseen items)"},
        "encode": {"inputs": {"histories": histories, **times},
                   "outputs": f"float32 [batch, {model.hidden_dim}] user vectors"},
        "item_vectors": {"inputs": {},
                         "outputs": f"float32 [{model.num_items + 1}, {model.hidden_dim}], "
                                    "row 0 is padding"},
    }
    if vocabulary is not None:
        raw = f"string [batch, {model.max_length}], the dataset's item ids, left-padded with ''"
        for name in ("top_k", "top_k_unseen"):
            endpoints[f"{name}_raw"] = {
                "inputs": {"raw_histories": raw, **times, "k": f"int32 scalar in 1..{max_k}"},
                "outputs": {"ids": "string [batch, k], the dataset's item ids",
                            "scores": "float32 [batch, k]"}}
    if rule is not None:
        endpoints["halting_steps"] = {"inputs": {"histories": histories},
                                      "outputs": f"int32 [batch] in 1..{steps}"}
    return {
        "format": FORMAT,
        "model": type(model).__name__,
        "num_items": model.num_items,
        "max_length": model.max_length,
        "hidden_dim": model.hidden_dim,
        "reasoning_steps": steps,
        "trained_reasoning_steps": model.reasoning_steps,
        "learning": model.learning,
        "inference_pooling": model.inference_pooling,
        "max_k": max_k,
        "timestamps": timed,
        "time_buckets": getattr(model, "time_buckets", None) if timed else None,
        "halting": rule,
        "vocabulary": None if vocabulary is None else {"file": "vocabulary.json",
                                                       "id_type": vocabulary.id_type,
                                                       "titles": vocabulary.titles is not None},
        "endpoints": endpoints,
        "ids": f"1..{model.num_items}; 0 is padding and never returned; equal scores: lower id first",
        "rearec_keras_version": __version__,
    }


class ServingModel:
    """An export read back with `tf.saved_model.load`, numpy in and out.

    Histories shorter than `max_length` are left-padded with 0; input errors
    raised inside the graph come back as `ValueError`. Needs TensorFlow only
    (not Keras, not this package's models). An export of a model with a
    time bias (`info["timestamps"]`) needs `timestamps=` in `encode` and
    `top_k`: one row per history, one number per item as given (padded
    and truncated like the history); the others refuse it.

    Attributes:
        info: the export's `serving.json`.
        saved_model: the object `tf.saved_model.load` returned (its
            `encode`, `top_k`, `top_k_unseen`, `item_vectors` functions and
            `signatures`).
    """

    def __init__(self, path):
        import tensorflow as tf

        path = Path(path)
        info_path = path / SERVING_JSON
        if not info_path.exists():
            raise FileNotFoundError(f"{path} is not a rearec_keras serving export (no {SERVING_JSON})")
        self.path = path
        self.info = json.loads(info_path.read_text())
        self.saved_model = tf.saved_model.load(str(path))

    @property
    def num_items(self) -> int:
        return int(self.info["num_items"])

    @property
    def max_length(self) -> int:
        return int(self.info["max_length"])

    def _histories(self, histories):
        arr = np.asarray(histories)
        if arr.ndim != 2:
            raise ValueError(f"histories must be 2-D [batch, length] item ids (left-padded with 0); "
                             f"got shape {arr.shape}")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"histories must hold integer item ids, got dtype {arr.dtype}")
        if arr.shape[1] > self.max_length:
            raise ValueError(f"histories have length {arr.shape[1]} but the export reads at most "
                             f"max_length={self.max_length}; keep the last {self.max_length} items")
        if np.any(arr > np.iinfo(np.int32).max) or np.any(arr < np.iinfo(np.int32).min):
            raise ValueError(f"histories hold an item id above {self.num_items}; the model knows "
                             f"{self.num_items} items (ids 1..{self.num_items}; 0 is padding)")
        out = np.zeros((arr.shape[0], self.max_length), np.int32)
        out[:, self.max_length - arr.shape[1]:] = arr
        return out

    def _run(self, fn, *args):
        import tensorflow as tf

        try:
            return fn(*args)
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(_assert_message(e.message)) from None

    def _ids_mode(self, ids):
        if ids is None:
            return "internal" if self.vocabulary is None else "raw"
        if ids not in ("raw", "internal"):
            raise ValueError(f"ids must be 'raw' or 'internal', got {ids!r}")
        if ids == "raw" and self.vocabulary is None:
            raise ValueError(f"{self.path} was exported without a vocabulary: it knows internal "
                             "item ids only (ids='internal'; export a run directory to get one)")
        return ids

    def _internal(self, histories, ids):
        """int32 `[batch, max_length]` internal histories from either kind."""
        if self._ids_mode(ids) == "raw":
            return self.vocabulary.histories(histories, self.max_length)
        return self._histories(histories)

    def _extra(self, histories, timestamps):
        """The endpoints' inputs after the histories: `[timestamps int64
        [batch, max_length]]` for an export with a time bias, else []."""
        from rearec_keras.data.splits import left_pad_timestamps

        if not self.info.get("timestamps"):
            if timestamps is not None:
                raise ValueError(f"{self.path} reads no timestamps (its model has no time "
                                 "bias); leave out timestamps=")
            return []
        if timestamps is None:
            raise ValueError(
                f"{self.path} was exported from a model with a time bias (time_buckets="
                f"{self.info.get('time_buckets')}): pass timestamps= (one row per history, one "
                "number per item, in the data's time unit)")
        lengths = [len(row) for row in histories]
        return [left_pad_timestamps(timestamps, self.max_length, lengths)]

    def encode(self, histories, ids: str | None = None, timestamps=None) -> np.ndarray:
        """User vectors, float32 `[batch, d]` (`ids` and `timestamps` as in
        `top_k`)."""
        extra = self._extra(histories, timestamps)
        return self._run(self.saved_model.encode, self._internal(histories, ids), *extra).numpy()

    @property
    def vocabulary(self):
        """The export's `Vocabulary` (the dataset's own ids and titles), or
        None for an export without one."""
        if not hasattr(self, "_vocabulary"):
            from rearec_keras.data.vocabulary import Vocabulary

            self._vocabulary = Vocabulary.load(self.path)
        return self._vocabulary

    def top_k(self, histories, k: int = 10, exclude_history: bool = False, ids: str | None = None,
              timestamps=None):
        """`(ids [batch, k], scores float32 [batch, k])`, best first.

        `timestamps`: for an export with a time bias (and only then), the
        history items' times, one row per history and one per item as
        given (left-padded and truncated like the history).

        `ids="raw"` (the default for an export with a vocabulary):
        `histories` are lists of the dataset's item ids, oldest first, and
        the ids come back the same way (int64 when the dataset's ids are
        integers, else object strings) through the `*_raw` endpoints.
        `ids="internal"` (the default without one): int ids 1..N in and
        int32 out."""
        check_int("k", k, 1, int(self.info["max_k"]))
        mode = self._ids_mode(ids)
        extra = self._extra(histories, timestamps)
        if mode == "internal":
            fn = self.saved_model.top_k_unseen if exclude_history else self.saved_model.top_k
            out = self._run(fn, self._histories(histories), *extra, np.int32(k))
            return out["ids"].numpy(), out["scores"].numpy()
        vocabulary = self.vocabulary
        internal = vocabulary.histories(histories, self.max_length)  # names unknown ids
        # The dataset's ids as the graph reads them: text, "" for padding.
        text = np.array([""] + [str(v) for v in vocabulary.items])[internal]
        fn = (self.saved_model.top_k_unseen_raw if exclude_history
              else self.saved_model.top_k_raw)
        out = self._run(fn, text, *extra, np.int32(k))
        names = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(out["ids"].numpy())
        if vocabulary.id_type == "int":
            names = names.astype(np.int64)
        return names, out["scores"].numpy()

    def titles(self, raw_ids):
        """Titles of the dataset's item ids (None where the data has none),
        or None when the export's data had no titles."""
        if self.vocabulary is None:
            raise ValueError(f"{self.path} was exported without a vocabulary (no titles)")
        return self.vocabulary.titles_of_raw(raw_ids)

    def halting_steps(self, histories, ids: str | None = None) -> np.ndarray:
        """int32 `[batch]`: the reasoning steps each user ran (exports with
        `halting` only; `ids` as in `top_k`)."""
        if not self.info.get("halting"):
            raise ValueError(f"{self.path} was exported without halting: every user runs "
                             f"{self.info['reasoning_steps']} steps (export with halting=...)")
        return self._run(self.saved_model.halting_steps, self._internal(histories, ids)).numpy()

    def item_vectors(self) -> np.ndarray:
        """The item table, float32 `[num_items + 1, d]` (row 0 is padding)."""
        return self.saved_model.item_vectors().numpy()


def _assert_message(text: str) -> str:
    """The message of a failed in-graph assertion (else the first line)."""
    found = re.search(r"assertion failed: \[(.*?)\]", text, flags=re.S)
    if found:
        return found.group(1).strip().rstrip(".")
    return next((line for line in text.splitlines() if line.strip()), text).strip()


def load_serving(path) -> ServingModel:
    """Reads an `export_serving` directory back (see `ServingModel`)."""
    return ServingModel(path)
