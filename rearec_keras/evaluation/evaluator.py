"""Streaming full-ranking evaluation of sequential recommenders.

A model that reads the history items' timestamps (`model.uses_timestamps`,
e.g. HSTU with a time bias) is scored on `{"histories", "timestamps"}`
batches: the timestamps come from the data (a split part's
`history_timestamps`, a dict's `"timestamps"` or the inputs dict of a
`(inputs, targets)` tuple); data without them is refused.
"""

import keras
import numpy as np

from rearec_keras.data.splits import model_input
from rearec_keras.evaluation.ranking import _validate_ks
from rearec_keras.evaluation.ranking import _validate_metrics
from rearec_keras.evaluation.ranking import chunked_target_ranks
from rearec_keras.evaluation.ranking import ranking_metrics
from rearec_keras.evaluation.ranking import target_ranks
from rearec_keras.utils.progress import Progress


def _as_int_array(values, name):
    array = np.asarray(keras.ops.convert_to_numpy(values))
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(
            f"`{name}` must hold integer item ids. Received dtype "
            f"{array.dtype}."
        )
    if np.issubdtype(array.dtype, np.floating):
        integral = np.isfinite(array) & (array == np.round(array))
        if array.size and not np.all(integral):
            raise ValueError(
                f"`{name}` must hold integer item ids; found non-integral "
                "values."
            )
    return array.astype(np.int64, copy=False)


def _unpack_data(data):
    """Returns validated `(histories, targets)` numpy arrays."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(
                "`data` given as a tuple must be `(histories, targets)`. "
                f"Received a sequence of length {len(data)}."
            )
        histories, targets = data
        if isinstance(histories, dict):  # a time-bias model's inputs
            if "histories" not in histories:
                raise ValueError("the inputs dict of `(inputs, targets)` needs 'histories'; "
                                 f"got keys {sorted(histories)}.")
            histories = histories["histories"]
    elif isinstance(data, dict):
        if "histories" not in data or "targets" not in data:
            raise ValueError(
                "`data` given as a dict must have keys 'histories' and "
                f"'targets'. Received keys: {sorted(data)}."
            )
        histories, targets = data["histories"], data["targets"]
    elif hasattr(data, "histories") and hasattr(data, "targets"):
        histories, targets = data.histories, data.targets
    else:
        raise ValueError(
            "`data` must have `.histories` and `.targets` attributes (e.g. a "
            "split part) or be a `(histories, targets)` tuple. Received: "
            f"{type(data).__name__}."
        )
    histories = _as_int_array(histories, "histories")
    targets = _as_int_array(targets, "targets")
    if histories.ndim != 2:
        raise ValueError(
            "`histories` must be 2-D `[n, seq_len]` (left-padded with 0). "
            f"Received shape {histories.shape}."
        )
    if targets.ndim != 1:
        raise ValueError(
            f"`targets` must be 1-D `[n]`. Received shape {targets.shape}."
        )
    if histories.shape[0] == 0:
        raise ValueError("`data` is empty: there are no examples to evaluate.")
    if targets.shape[0] != histories.shape[0]:
        raise ValueError(
            f"targets length mismatch: {targets.shape[0]} targets for "
            f"{histories.shape[0]} histories."
        )
    return histories.astype(np.int32), targets.astype(np.int32)


def _check_targets_in_catalog(targets, num_items):
    bad = (targets < 1) | (targets > num_items)
    if np.any(bad):
        position = int(np.argmax(bad))
        raise ValueError(
            f"target item id {int(targets[position])} (example {position}) "
            f"is outside the model's catalog 1..{num_items} (0 is padding)."
        )


def _check_histories_in_catalog(histories, num_items):
    bad = (histories < 0) | (histories > num_items)
    if np.any(bad):
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"history item id {int(histories[row, col])} (example {int(row)}) "
            f"is outside the model's catalog 1..{num_items} (0 is padding)."
        )


def _data_timestamps(data):
    """The history timestamps `data` carries, or None."""
    if isinstance(data, (tuple, list)):
        inputs = data[0] if len(data) else None
        return inputs.get("timestamps") if isinstance(inputs, dict) else None
    if isinstance(data, dict):
        return data.get("timestamps")
    return getattr(data, "history_timestamps", None)


def model_timestamps(model, data, histories):
    """The timestamps `model` reads for `data`'s `histories` (float32
    `[n, L]`, each row minus its newest: `relative_timestamps`), or None
    when the model does not read timestamps.

    Raises:
        ValueError: the model reads timestamps and `data` has none, or
            they do not match the histories' shape.
    """
    if not getattr(model, "uses_timestamps", False):
        return None
    from rearec_keras.data.splits import relative_timestamps

    timestamps = _data_timestamps(data)
    if timestamps is None:
        name = getattr(data, "name", None)
        raise ValueError(
            f"{type(model).__name__} has a time bias (time_buckets="
            f"{getattr(model, 'time_buckets', '?')}) and reads the history items' timestamps, "
            f"but the evaluation data{f' ({name!r} part)' if name else ''} has none: give a "
            "split part with history_timestamps (leave_one_out / temporal_split; the Amazon "
            "files' history column has no times), or a dict / inputs dict with 'timestamps'."
        )
    timestamps = np.asarray(keras.ops.convert_to_numpy(timestamps))
    if timestamps.shape != histories.shape:
        raise ValueError(
            f"the data's history timestamps have shape {timestamps.shape}, but its histories "
            f"{histories.shape}; they must be aligned (one per history slot)."
        )
    return relative_timestamps(timestamps)


def _batch_inputs(histories, timestamps, rows):
    """The model inputs of `rows` (`model_input`)."""
    return model_input(histories[rows], None if timestamps is None else timestamps[rows])


def _data_catalog(data):
    """The catalog size a split part carries (None for plain arrays)."""
    value = getattr(data, "num_items", None)
    return None if value is None else int(value)


def check_catalog(model, data, histories=True):
    """Raises `ValueError` if `data` (a split part, or `(histories,
    targets)`) does not fit `model`'s catalog: a part carrying another
    catalog size, or target (and, with `histories=True`, history) ids
    outside `1..model.num_items`. Returns the validated `(histories,
    targets)`. (A model's own input check reports bad history ids itself.)"""
    data_items = _data_catalog(data)
    arrays = _unpack_data(data)
    num_items = getattr(model, "num_items", None)
    _check_same_catalog(data_items, num_items)
    if num_items is not None:
        _check_targets_in_catalog(arrays[1], int(num_items))
        if histories:
            _check_histories_in_catalog(arrays[0], int(num_items))
    return arrays


def _check_same_catalog(data_items, model_items):
    if data_items is not None and model_items is not None and data_items != model_items:
        raise ValueError(
            f"the model scores {model_items:,} items but the data comes from a catalog of "
            f"{data_items:,}; ranking against the model's catalog would count items the data "
            "does not have (or miss some). Evaluate with the split the model was trained on."
        )


def _default_scores(model, histories):
    if hasattr(model, "predict_on_batch"):
        return model.predict_on_batch(histories)
    if callable(model):
        return model(histories)
    raise ValueError(
        "`model` must be a Keras model or a callable mapping histories to "
        "scores, or `score_fn` must be given. Received: "
        f"{type(model).__name__}."
    )


def _score_batch(model, histories, score_fn, inputs=None):
    """Scores of one batch; `inputs` (default `histories`) is what the
    model reads (the `{"histories", "timestamps"}` dict of a time-bias
    model)."""
    inputs = histories if inputs is None else inputs
    if score_fn is not None:
        scores = score_fn(model, inputs)
    else:
        scores = _default_scores(model, inputs)
    if isinstance(scores, (dict, list, tuple)):
        raise ValueError(
            "the model returned a structure "
            f"({type(scores).__name__}) instead of one score matrix "
            "`[batch, num_items + 1]`; pass `score_fn=` to select the scores."
        )
    shape = tuple(keras.ops.shape(scores))
    if len(shape) != 2:
        raise ValueError(
            "the score matrix must be 2-D `[batch, num_items + 1]`. "
            f"Received shape {shape}."
        )
    if shape[0] != histories.shape[0]:
        raise ValueError(
            f"the score matrix has the wrong number of rows: got {shape[0]} "
            f"rows for a batch of {histories.shape[0]} histories."
        )
    if shape[1] < 2:
        raise ValueError(
            "the score matrix must have `num_items + 1` columns (column 0 is "
            f"padding) with at least one real item. Received shape {shape}."
        )
    return scores


# Catalogs larger than this are ranked in item chunks by default.
AUTO_CHUNK_ITEMS = 2**18
DEFAULT_ITEM_CHUNK = 2**16


def _item_chunking(model, score_fn, item_chunk_size):
    """The item chunk size to stream with, or None for whole-catalog scores."""
    factorized = (
        score_fn is None
        and callable(getattr(model, "user_vectors", None))
        and callable(getattr(model, "item_vectors", None))
    )
    if item_chunk_size is None:
        if factorized and int(model.num_items) + 1 > AUTO_CHUNK_ITEMS:
            return DEFAULT_ITEM_CHUNK
        return None
    if isinstance(item_chunk_size, bool) or not isinstance(item_chunk_size, (int, np.integer)) \
            or item_chunk_size < 1:
        raise ValueError(
            f"`item_chunk_size` must be a positive int or None. Received: {item_chunk_size!r}"
        )
    if not factorized:
        raise ValueError(
            "`item_chunk_size` needs a model with `user_vectors(histories)` and "
            "`item_vectors()` (a ReaRec model) and no `score_fn`."
        )
    return int(item_chunk_size)


def compute_ranks(
    model,
    data,
    *,
    batch_size=256,
    exclude_history=False,
    score_fn=None,
    item_chunk_size=None,
    verbose=0,
):
    """Computes the full-ranking rank of every target item, batch by batch.

    The model scores the whole catalog for `batch_size` histories at a time,
    the rank of each target is computed with `target_ranks`, and only the
    ranks are kept, so peak memory is `O(batch_size * num_items)`.

    Args:
        model: a Keras model whose `predict_on_batch(histories)` returns
            scores of shape `[batch, num_items + 1]` (column `0` is padding),
            or any callable `histories -> scores`. May be `None` when
            `score_fn` does not need it.
        data: the examples: an object with `.histories` (int `[n, seq_len]`,
            left-padded with `0`) and `.targets` (int `[n]`) attributes such
            as a split part, a `(histories, targets)` tuple, or a dict with
            those two keys. A model that reads timestamps
            (`uses_timestamps`) gets each batch as `{"histories",
            "timestamps"}`, the timestamps from the part's
            `history_timestamps` (or a dict's `"timestamps"`, or an
            `({"histories", "timestamps"}, targets)` tuple); `score_fn`
            receives that dict too.
        batch_size: int. Number of histories scored at once. Defaults to
            `256`.
        exclude_history: bool. Whether items already in an example's history
            (except the target) are removed from the competition. Defaults to
            `False`, as in the ReaRec protocol.
        score_fn: optional callable `(model, inputs) -> scores` overriding
            how scores are obtained (`inputs`: the histories, or the dict
            above), e.g.
            `lambda m, h: m.score_items(h, reasoning_steps=2)`.
        item_chunk_size: int or None. For a model with `user_vectors` and
            `item_vectors` (ReaRec models), score the catalog this many items
            at a time (`chunked_target_ranks`): memory `O(batch_size *
            item_chunk_size)`, same ranks. None (default): chunks of 65,536
            items when the catalog has more than 262,143 items, otherwise
            whole score rows.
        verbose: int. `0` is silent, `1` shows a live progress bar in a
            terminal and one summary line otherwise, `2` prints the summary
            line only (`rearec_keras.utils.progress.Progress`).

    Returns:
        An int32 numpy array of shape `[n]` with ranks in `1..num_items`.

    Example:

    ```python
    ranks = compute_ranks(model, splits.test, batch_size=512)
    ```
    """
    data_items = _data_catalog(data)
    histories, targets = check_catalog(model, data, histories=exclude_history)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: {batch_size!r}"
        )
    if score_fn is not None and not callable(score_fn):
        raise ValueError(f"`score_fn` must be callable. Received: {score_fn!r}")
    if model is None and score_fn is None:
        raise ValueError("`model` is None and no `score_fn` was given.")
    timestamps = model_timestamps(model, data, histories)
    chunk = _item_chunking(model, score_fn, item_chunk_size)
    if chunk is not None:
        return _chunked_ranks(model, histories, targets, batch_size, exclude_history, chunk,
                              verbose, timestamps)

    n = histories.shape[0]
    batch_size = int(batch_size)
    progress = Progress(n, verbose, "ranking", unit="example")
    ranks = np.empty((n,), dtype=np.int32)
    num_items = None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch_histories = histories[start:stop]
        scores = _score_batch(model, batch_histories, score_fn,
                              _batch_inputs(histories, timestamps, slice(start, stop)))
        batch_num_items = int(keras.ops.shape(scores)[1]) - 1
        if num_items is None:
            num_items = batch_num_items
            _check_same_catalog(data_items, num_items)
            # Fail fast on the whole data set before scoring anything else.
            _check_targets_in_catalog(targets, num_items)
            if exclude_history:
                _check_histories_in_catalog(histories, num_items)
        elif batch_num_items != num_items:
            raise ValueError(
                "the score matrix changed width between batches: "
                f"{num_items + 1} columns, then {batch_num_items + 1}."
            )
        batch_ranks = target_ranks(
            scores,
            targets[start:stop],
            histories=batch_histories if exclude_history else None,
            exclude_history=exclude_history,
        )
        ranks[start:stop] = keras.ops.convert_to_numpy(batch_ranks)
        progress.update(stop)
    progress.close()
    return ranks


def _chunked_ranks(model, histories, targets, batch_size, exclude_history, chunk, verbose,
                   timestamps=None):
    num_items = int(model.num_items)
    _check_targets_in_catalog(targets, num_items)
    if exclude_history:
        _check_histories_in_catalog(histories, num_items)
    table = model.item_vectors()
    n = histories.shape[0]
    progress = Progress(n, verbose, "ranking", unit="example")
    ranks = np.empty((n,), dtype=np.int32)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch_histories = histories[start:stop]
        ranks[start:stop] = keras.ops.convert_to_numpy(
            chunked_target_ranks(
                model.user_vectors(_batch_inputs(histories, timestamps, slice(start, stop))),
                table, targets[start:stop],
                histories=batch_histories, exclude_history=exclude_history, chunk_size=chunk,
            )
        )
        progress.update(stop)
    progress.close()
    return ranks


def evaluate(
    model,
    data,
    ks=(10, 20),
    *,
    batch_size=256,
    exclude_history=False,
    score_fn=None,
    item_chunk_size=None,
    metrics=("ndcg", "recall", "mrr"),
    return_ranks=False,
    verbose=0,
):
    """Full-ranking evaluation: NDCG@k, Recall@k (= HR@k) and MRR@k.

    Every example's target is ranked against the whole catalog (see
    `target_ranks` for the tie and NaN rules) and the per-example metrics
    are averaged.

    Args:
        model: a Keras model or callable returning scores
            `[batch, num_items + 1]`; see `compute_ranks`.
        data: a split part (`.histories`, `.targets`), a
            `(histories, targets)` tuple or a dict with those keys.
        ks: int or sequence of positive ints. Cutoffs. Defaults to `(10, 20)`.
        batch_size: int. Histories scored at once. Defaults to `256`.
        exclude_history: bool. Remove history items from the competition.
            Defaults to `False`.
        score_fn: optional callable `(model, inputs) -> scores` (see
            `compute_ranks`).
        item_chunk_size: stream the catalog in item chunks (see
            `compute_ranks`).
        metrics: names among `"ndcg"`, `"recall"`, `"mrr"`. Defaults to all.
        return_ranks: bool. Also return the int32 ranks array. Defaults to
            `False`.
        verbose: int. Progress display, as in `compute_ranks`.

    Returns:
        A dict such as `{"ndcg@10": ..., "recall@10": ..., "mrr@10": ...,
        "ndcg@20": ...}` of Python floats, or `(dict, ranks)` when
        `return_ranks=True`.

    Example:

    ```python
    results = evaluate(model, splits.test, ks=(5, 10, 20))
    results["ndcg@10"]
    ```
    """
    # Validate the cheap arguments before running the model.
    ks = _validate_ks(ks)
    metrics = _validate_metrics(metrics)
    ranks = compute_ranks(
        model,
        data,
        batch_size=batch_size,
        exclude_history=exclude_history,
        score_fn=score_fn,
        item_chunk_size=item_chunk_size,
        verbose=verbose,
    )
    results = ranking_metrics(ranks, ks=ks, metrics=metrics)
    if return_ranks:
        return results, ranks
    return results
