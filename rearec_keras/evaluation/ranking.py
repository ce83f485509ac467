"""Rank computation and rank-based metrics for full-ranking evaluation.

Conventions shared by the whole package: item ids run from `1` to
`num_items` and id `0` is padding, so a score matrix has shape
`[batch, num_items + 1]` and its column `0` never takes part in a ranking.

The rank of the target item is computed by counting competitors rather than
by sorting, which costs `O(batch * num_items)` and handles ties
deterministically: every real item (other than the target) whose score is
greater than *or equal to* the target's score is ranked above it. A constant
scorer therefore puts the target last, rather than first.
"""

import math

import keras
import numpy as np
from keras import ops

from rearec_keras.utils.choices import METRICS as SUPPORTED_METRICS  # noqa: E402


def _as_float_scores(scores):
    scores = ops.convert_to_tensor(scores)
    dtype = keras.backend.standardize_dtype(scores.dtype)
    if dtype != "float64":
        # float16 / bfloat16 upcast losslessly; integer scores are allowed.
        scores = ops.cast(scores, "float32")
    return scores


def _check_static_targets(targets, num_columns):
    """Eager range check when the targets are plain Python/numpy data."""
    if num_columns is None or not isinstance(
        targets, (np.ndarray, list, tuple)
    ):
        return
    values = np.asarray(targets)
    if values.size == 0:
        return
    bad = values[(values < 1) | (values >= num_columns)]
    if bad.size:
        raise ValueError(
            f"target item id {int(bad[0])} is outside the catalog "
            f"1..{num_columns - 1} (0 is padding)."
        )


def _seen_items(histories, start, width):
    """int32 `[batch, width]`: > 0 where item `start + j` is in the row's
    history. Ids outside `start..start + width - 1` are ignored."""
    batch, seq_len = ops.shape(histories)[0], ops.shape(histories)[1]
    local = histories - start
    inside = ops.logical_and(ops.greater_equal(local, 0), ops.less(local, width))
    local = ops.where(inside, local, width)  # outside: a spare column, dropped
    rows = ops.repeat(ops.expand_dims(ops.arange(batch, dtype="int32"), 1), seq_len, axis=1)
    indices = ops.reshape(ops.stack([rows, local], axis=-1), (-1, 2))
    seen = ops.scatter(indices, ops.ones((batch * seq_len,), "int32"), (batch, width + 1))
    return seen[:, :width]


def target_ranks(scores, targets, histories=None, exclude_history=False):
    """Computes the 1-based rank of each target item under full ranking.

    For every example, the rank is `1 +` the number of real items `j`
    (`j != 0` and `j != target`) whose score is greater than or equal to the
    target's score. Ties therefore count against the target, the padding
    column `0` is ignored whatever its score, and NaN scores are treated as
    `-inf` (so a NaN target score gets the worst possible rank).

    When `exclude_history=True`, the items found in the example's history
    (other than padding `0` and other than the target itself) are removed from
    the competition: they are never counted against the target.

    The computation only uses `keras.ops`, so it runs on any backend and
    accepts backend tensors as well as numpy arrays. Memory is
    `O(batch * num_items)`; no sort is performed.

    Args:
        scores: float tensor of shape `[batch, num_items + 1]`. Column `i`
            holds the score of item id `i`; column `0` (padding) is ignored.
        targets: int tensor of shape `[batch]` with ids in `1..num_items`.
        histories: optional int tensor of shape `[batch, seq_len]` with item
            ids (`0` is padding). Only read when `exclude_history=True`.
        exclude_history: bool. Whether to drop history items from the
            competition. Defaults to `False` (the paper's protocol).

    Returns:
        An int32 tensor of shape `[batch]` with ranks in `1..num_items`.

    Example:

    ```python
    scores = np.array([[9.0, 0.1, 0.7, 0.7, 0.3]])  # 4 items, col 0 = pad
    target_ranks(scores, np.array([2]))  # -> [2]: item 3 ties with item 2
    target_ranks(
        scores, np.array([2]), histories=np.array([[0, 3]]),
        exclude_history=True,
    )  # -> [1]: item 3 was already seen, so it no longer competes
    ```
    """
    scores = _as_float_scores(scores)
    if len(scores.shape) != 2:
        raise ValueError(
            "`scores` must be 2-D `[batch, num_items + 1]`. "
            f"Received shape {tuple(scores.shape)}."
        )
    num_columns = scores.shape[1]
    _check_static_targets(targets, num_columns)
    targets = ops.cast(ops.convert_to_tensor(targets), "int32")
    if len(targets.shape) != 1:
        raise ValueError(
            "`targets` must be 1-D `[batch]`. "
            f"Received shape {tuple(targets.shape)}."
        )

    # NaN never helps: it becomes -inf, i.e. the lowest possible score.
    neg_inf = ops.full_like(scores, float("-inf"))
    scores = ops.where(ops.isnan(scores), neg_inf, scores)

    target_column = ops.expand_dims(targets, axis=1)  # [batch, 1]
    target_scores = ops.take_along_axis(scores, target_column, axis=1)

    item_ids = ops.expand_dims(
        ops.arange(ops.shape(scores)[1], dtype="int32"), axis=0
    )  # [1, num_columns]
    competitors = ops.logical_and(
        ops.not_equal(item_ids, 0), ops.not_equal(item_ids, target_column)
    )  # [batch, num_columns]

    if exclude_history:
        if histories is None:
            raise ValueError(
                "`exclude_history=True` requires `histories` to be passed."
            )
        histories = ops.cast(ops.convert_to_tensor(histories), "int32")
        if len(histories.shape) != 2:
            raise ValueError(
                "`histories` must be 2-D `[batch, seq_len]`. "
                f"Received shape {tuple(histories.shape)}."
            )
        seen = _seen_items(histories, 0, ops.shape(scores)[1])
        # Column 0 and the target are handled by `competitors` already: the
        # padding never competes and the target never competes with itself.
        competitors = ops.logical_and(competitors, ops.equal(seen, 0))

    outscoring = ops.logical_and(
        ops.greater_equal(scores, target_scores), competitors
    )
    return ops.add(ops.sum(ops.cast(outscoring, "int32"), axis=1), 1)


def chunked_target_ranks(
    user_vectors,
    item_vectors,
    targets,
    histories=None,
    exclude_history=False,
    chunk_size=65536,
):
    """`target_ranks` for factorized scores, streamed over item chunks.

    For a model whose scores are `user_vectors · item_vectorsᵀ` the full
    score matrix `[batch, num_items + 1]` never exists: the catalog is
    scored `chunk_size` items at a time and only the per-row count of items
    that outscore the target is kept, so memory is `O(batch · chunk_size)`
    however large the catalog. Same rules as `target_ranks`: ties count
    against the target, NaN is `-inf`, column 0 never competes, and
    `exclude_history` drops seen items (other than the target). The target's
    own score is a row-wise dot product, which may differ from its entry in
    a full matrix product in the last bit.

    Args:
        user_vectors: float `[batch, d]`.
        item_vectors: float `[num_items + 1, d]` (row 0 is padding).
        targets: int `[batch]` in `1..num_items`.
        histories, exclude_history: as in `target_ranks`.
        chunk_size: items scored at once.

    Returns:
        An int32 tensor `[batch]` with ranks in `1..num_items`.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be a positive int. Received: {chunk_size!r}")
    users = ops.cast(ops.convert_to_tensor(user_vectors), "float32")
    items = ops.cast(ops.convert_to_tensor(item_vectors), "float32")
    num_columns = int(items.shape[0])
    _check_static_targets(targets, num_columns)
    targets = ops.cast(ops.convert_to_tensor(targets), "int32")
    if exclude_history and histories is None:
        raise ValueError("`exclude_history=True` requires `histories` to be passed.")
    neg_inf = float("-inf")
    target_scores = ops.sum(users * ops.take(items, targets, axis=0), axis=1)
    target_scores = ops.expand_dims(
        ops.where(ops.isnan(target_scores), neg_inf, target_scores), 1
    )
    target_column = ops.expand_dims(targets, 1)
    if exclude_history:
        histories = ops.cast(ops.convert_to_tensor(histories), "int32")
    count = ops.zeros((users.shape[0],), "int32")
    for start in range(1, num_columns, int(chunk_size)):
        stop = min(start + int(chunk_size), num_columns)
        width = stop - start
        scores = ops.matmul(users, ops.transpose(items[start:stop]))
        scores = ops.where(ops.isnan(scores), neg_inf, scores)
        ids = ops.expand_dims(ops.arange(start, stop, dtype="int32"), 0)
        competing = ops.logical_and(
            ops.greater_equal(scores, target_scores), ops.not_equal(ids, target_column)
        )
        if exclude_history:
            seen = _seen_items(histories, start, width)
            competing = ops.logical_and(competing, ops.equal(seen, 0))
        count = count + ops.sum(ops.cast(competing, "int32"), axis=1)
    return count + 1


def _validate_ks(ks):
    if isinstance(ks, (int, np.integer)) and not isinstance(ks, bool):
        ks = (ks,)
    try:
        ks = tuple(ks)
    except TypeError:
        raise ValueError(
            f"`ks` must be a sequence of positive integers. Received: {ks!r}"
        ) from None
    if not ks:
        raise ValueError("`ks` must contain at least one cutoff k; got none.")
    clean = []
    for k in ks:
        if (
            isinstance(k, bool)
            or not isinstance(k, (int, np.integer))
            or int(k) <= 0
        ):
            raise ValueError(
                f"every k in `ks` must be a positive integer. Received: {k!r} "
                f"in ks={ks!r}"
            )
        if int(k) not in clean:
            clean.append(int(k))
    return tuple(clean)


def _validate_metrics(metrics):
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("`metrics` must name at least one metric; got none.")
    clean = []
    for name in metrics:
        key = str(name).lower()
        if key not in SUPPORTED_METRICS:
            raise ValueError(
                f"unknown metric name {name!r}. Supported metrics: "
                f"{', '.join(SUPPORTED_METRICS)}."
            )
        if key not in clean:
            clean.append(key)
    return tuple(clean)


def ranking_metrics(ranks, ks=(10, 20), metrics=("ndcg", "recall", "mrr")):
    """Averages top-k metrics over 1-based target ranks.

    With a single relevant item per example and `rank` its 1-based position:

    - `recall@k` (equal to hit rate HR@k): `1` if `rank <= k` else `0`.
    - `ndcg@k`: `1 / log2(rank + 1)` if `rank <= k` else `0`.
    - `mrr@k`: `1 / rank` if `rank <= k` else `0`.

    Args:
        ranks: int array-like of shape `[n]` with values `>= 1`, e.g. the
            output of `target_ranks` or `compute_ranks`.
        ks: int or sequence of positive ints. Cutoffs. Defaults to `(10, 20)`.
        metrics: sequence of metric names among `"ndcg"`, `"recall"` and
            `"mrr"`. Defaults to all three.

    Returns:
        A dict mapping `"{metric}@{k}"` to a Python float, ordered by `k`
        first and then by `metrics`, e.g.
        `{"ndcg@10": ..., "recall@10": ..., "mrr@10": ..., "ndcg@20": ...}`.

    Example:

    ```python
    ranking_metrics(np.array([1, 3]), ks=(2,))
    # {"ndcg@2": 0.5, "recall@2": 0.5, "mrr@2": 0.5}
    ```
    """
    ks = _validate_ks(ks)
    metrics = _validate_metrics(metrics)
    ranks = np.asarray(keras.ops.convert_to_numpy(ranks)).reshape(-1)
    if ranks.size == 0:
        raise ValueError("`ranks` is empty; there is nothing to average.")
    if np.any(ranks < 1):
        raise ValueError(
            f"ranks are 1-based; found rank {int(ranks[ranks < 1][0])}."
        )
    ranks = ranks.astype(np.float64)
    results = {}
    for k in ks:
        hit = ranks <= k
        for name in metrics:
            if name == "recall":
                values = hit.astype(np.float64)
            elif name == "ndcg":
                values = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
            else:  # "mrr"
                values = np.where(hit, 1.0 / ranks, 0.0)
            results[f"{name}@{k}"] = float(math.fsum(values) / values.size)
    return results
