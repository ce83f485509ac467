"""Preprocessing steps: each takes an `InteractionDataset`, returns a new one,
and appends a `ProcessingStep` with what it removed and why.

The usual chain for the ReaRec protocol is
`preprocess(ds, rating_threshold=3, k_core=5)`: keep ratings > 3, drop exact
duplicates, iterative 5-core, chronological order, contiguous ids.
Every step logs its counts on the `"rearec_keras"` logger (INFO).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.dataset import ProcessingStep
from rearec_keras.datasets.validation import DataError
from rearec_keras.utils.choices import DUPLICATES

logger = logging.getLogger("rearec_keras")

# The modes of `drop_duplicates` (defined once in `utils.choices`).
DUPLICATE_MODES = DUPLICATES


def _counts(frame: pd.DataFrame):
    return len(frame), frame["user_id"].nunique(), frame["item_id"].nunique()


def _record(
    dataset: InteractionDataset,
    new_frame: pd.DataFrame,
    step: str,
    reason: str,
    details=None,
    **changes,
) -> InteractionDataset:
    if len(new_frame) == 0:
        raise DataError(
            f"{dataset.name}: no interactions remain after {step} ({reason}); "
            f"it removed all {len(dataset.interactions):,}. Relax the setting."
        )
    n0, u0, i0 = _counts(dataset.interactions)
    n1, u1, i1 = _counts(new_frame)
    record = ProcessingStep(step, reason, n0, n1, u0, u1, i0, i1, dict(details or {}))
    logger.info("%s: %s", dataset.name, record)
    return dataset.replace(
        interactions=new_frame.reset_index(drop=True),
        processing=[*dataset.processing, record],
        **changes,
    )


def filter_ratings(dataset: InteractionDataset, threshold: float = 3.0) -> InteractionDataset:
    """Implicit feedback: keep interactions with `rating > threshold`.

    The ReaRec paper keeps ratings > 3 as positives on every dataset.

    Raises:
        DataError: the dataset has no `rating` column, or nothing remains.
    """
    if "rating" not in dataset.interactions.columns:
        raise DataError(
            f"{dataset.name}: cannot apply a rating threshold, there is no 'rating' "
            f"column (columns: {list(dataset.interactions.columns)})."
        )
    frame = dataset.interactions
    kept = frame[frame["rating"] > threshold]
    return _record(dataset, kept, "filter_ratings", f"rating <= {threshold:g}")


def drop_duplicates(dataset: InteractionDataset, keep: str = "exact") -> InteractionDataset:
    """Remove repeated interactions.

    Args:
        keep: `"exact"` drops rows repeating the same (user, item,
            timestamp); `"first"` / `"last"` keep only the earliest / latest
            interaction of each (user, item) pair (no repeat consumption);
            `"none"` keeps everything (the step is still recorded).
    """
    if keep not in DUPLICATE_MODES:
        raise ValueError(f"keep must be one of {DUPLICATE_MODES}, got {keep!r}.")
    frame = dataset.interactions
    if keep == "none":
        return _record(dataset, frame, "drop_duplicates", "disabled")
    if keep == "exact":
        kept = frame[~frame.duplicated(["user_id", "item_id", "timestamp"], keep="first")]
        reason = "same user, item and timestamp"
    else:
        order = frame.sort_values("timestamp", kind="stable")
        dup = order.duplicated(["user_id", "item_id"], keep=keep)
        kept = frame.loc[order.index[~dup.to_numpy()]].sort_index()
        reason = f"repeated (user, item) pair, kept the {keep}"
    return _record(dataset, kept, "drop_duplicates", reason)


def k_core(
    dataset: InteractionDataset,
    k: int = 5,
    *,
    user_k: int | None = None,
    item_k: int | None = None,
    max_iterations: int = 1000,
) -> InteractionDataset:
    """Iterative k-core: repeatedly drop users and items with < k interactions.

    Args:
        k: minimum interactions per user and per item.
        user_k / item_k: separate thresholds (default `k`).
        max_iterations: safety bound; a k-core always converges well before.

    Raises:
        ValueError: k < 1.
        DataError: nothing survives.
    """
    user_k = k if user_k is None else user_k
    item_k = k if item_k is None else item_k
    if user_k < 1 or item_k < 1:
        raise ValueError(f"k-core thresholds must be >= 1, got user_k={user_k}, item_k={item_k}.")
    frame = dataset.interactions
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        users = frame["user_id"].map(frame["user_id"].value_counts())
        items = frame["item_id"].map(frame["item_id"].value_counts())
        keep = (users >= user_k) & (items >= item_k)
        if keep.all():
            break
        frame = frame[keep]
        if len(frame) == 0:
            break
    reason = (
        f"users with < {user_k} or items with < {item_k} interactions, iteratively"
    )
    return _record(
        dataset, frame, "k_core", reason,
        details={"user_k": user_k, "item_k": item_k, "iterations": iterations},
    )


# `preprocess` has a `k_core` argument that shadows the function name.
_k_core_step = k_core


def sort_chronologically(dataset: InteractionDataset) -> InteractionDataset:
    """Order interactions by user, then timestamp; ties keep the input order.

    The tie-break is the row order of the loaded file (a stable sort), so
    two interactions with the same timestamp stay in the order the dataset
    lists them.
    """
    frame = dataset.interactions.sort_values(["user_id", "timestamp"], kind="stable")
    return _record(dataset, frame, "sort_chronologically", "reorder only, nothing removed")


def _sorted_vocab(values: pd.Series) -> np.ndarray:
    unique = pd.unique(values)
    try:
        unique = np.sort(unique)
    except TypeError:  # Mixed types cannot happen after validation; be safe.
        unique = np.array(sorted(unique, key=str), dtype=object)
    return unique


def index_ids(dataset: InteractionDataset) -> InteractionDataset:
    """Map user and item ids to contiguous integers starting at 1.

    Ids are numbered in sorted order of the original ids, so data that
    already uses 1..N (like MovieLens) keeps its ids. Id 0 is reserved for
    padding. `item_vocab[i]` / `user_vocab[u]` give back the original id
    (composed with any earlier indexing). Item metadata is re-keyed to the
    new ids; metadata rows of items without interactions are dropped and
    counted in the step's details.
    """
    frame = dataset.interactions.copy()
    item_raw = _sorted_vocab(frame["item_id"])
    user_raw = _sorted_vocab(frame["user_id"])
    item_codes = pd.Index(item_raw).get_indexer(frame["item_id"]) + 1
    user_codes = pd.Index(user_raw).get_indexer(frame["user_id"]) + 1
    frame["item_id"] = item_codes.astype(np.int64)
    frame["user_id"] = user_codes.astype(np.int64)
    item_vocab = _compose_vocab(dataset.item_vocab, item_raw)
    user_vocab = _compose_vocab(dataset.user_vocab, user_raw)
    items, dropped_meta = reindex_items(dataset.items, item_raw)
    return _record(
        dataset, frame, "index_ids",
        "ids mapped to 1..N (0 = padding), nothing removed",
        details={"metadata_rows_without_interactions": dropped_meta},
        items=items, item_vocab=item_vocab, user_vocab=user_vocab,
    )


def _compose_vocab(previous: np.ndarray | None, raw: np.ndarray) -> np.ndarray:
    vocab = np.empty(len(raw) + 1, dtype=object)
    vocab[0] = None
    vocab[1:] = raw if previous is None else previous[raw.astype(np.int64)]
    return vocab


def reindex_items(items: pd.DataFrame | None, raw_ids: np.ndarray):
    """Re-key item metadata so that row `item_id == i` describes `raw_ids[i-1]`.

    Returns `(new_items, n_dropped)`: metadata rows whose item is not in
    `raw_ids` are dropped and counted. Items without metadata are absent.
    """
    if items is None:
        return None, 0
    lookup = pd.Index(raw_ids).get_indexer(items["item_id"])
    kept = lookup >= 0
    new = items[kept].copy()
    new["item_id"] = (lookup[kept] + 1).astype(np.int64)
    new = new.sort_values("item_id").reset_index(drop=True)
    return new, int((~kept).sum())


def preprocess(
    dataset: InteractionDataset,
    *,
    rating_threshold: float | None = None,
    duplicates: str = "exact",
    k_core: int | None = None,
    user_k: int | None = None,
    item_k: int | None = None,
) -> InteractionDataset:
    """The standard chain: threshold, duplicates, k-core, sort, index ids.

    Args:
        rating_threshold: keep `rating > rating_threshold` (paper: 3); None
            keeps all interactions.
        duplicates: see `drop_duplicates` (`"exact"` by default).
        k_core: iterative k-core threshold (e.g. 5, Yelp in the paper: 20);
            None skips it. `user_k`/`item_k` override it per side.

    Returns:
        A chronologically sorted, indexed dataset whose `processing` list
        reports each step's counts.
    """
    out = dataset
    if rating_threshold is not None:
        out = filter_ratings(out, rating_threshold)
    out = drop_duplicates(out, duplicates)
    if k_core is not None or user_k is not None or item_k is not None:
        out = _k_core_step(
            out, k_core if k_core is not None else 1, user_k=user_k, item_k=item_k
        )
    out = sort_chronologically(out)
    return index_ids(out)
