"""Cold-start protocol: items that never occur in training.

`hold_out_items` turns a split into one where chosen items are unseen in
training: train examples whose target is held out are removed, and held-out
items are removed from the training histories (the rest of each history
keeps its order, left-padded again). Validation and test examples are kept
as they are, so a test history or target may contain an item the model
never trained on: an id model knows nothing of it, a text model
(`ReaUniSRec`, `ReaMoRec`) represents it from its text. Every removal is
counted in `Split.report`; the held-out ids are in
`split.settings["held_out_items"]`.

`items_by_train_count` groups the test targets by how often they occur in
training, for recall on rare items.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rearec_keras.data.splits import Split
from rearec_keras.data.splits import SplitPart
from rearec_keras.utils.validation import check_float


def _remove_items(histories: np.ndarray, drop: np.ndarray, times: np.ndarray | None = None):
    """Histories without the ids in `drop` (order kept, left-padded), the
    number of items removed per row, and the history timestamps moved with
    their items (padding slots 0; None when `times` is None)."""
    removed = np.isin(histories, drop) & (histories != 0)
    kept = np.where(removed, 0, histories)
    # Stable sort of "is real" moves padding left and keeps the item order.
    order = np.argsort(kept != 0, axis=1, kind="stable")
    new_times = None
    if times is not None:
        new_times = np.take_along_axis(np.where(kept != 0, times, 0), order, axis=1)
    return np.take_along_axis(kept, order, axis=1), removed.sum(axis=1), new_times


def hold_out_items(split: Split, items=None, *, fraction: float | None = None, seed: int = 0
                   ) -> Split:
    """A copy of `split` in which `items` never occur in training.

    Args:
        split: any `Split`.
        items: item ids (`1..num_items`) to hold out; or None with
            `fraction`.
        fraction: hold out this fraction of the catalog, drawn uniformly
            (seeded) among the items that are a test target, so that the
            cold evaluation has examples.
        seed: seed of the draw.

    Returns:
        A new `Split` (same catalog, `num_items` unchanged). Its
        `settings["held_out_items"]` lists the held-out ids, and `report`
        counts the train examples removed (target held out, or nothing left
        in the history) and the history items removed.

    Raises:
        ValueError: both or neither of `items` / `fraction`, ids outside
            `1..num_items` (the first is named), or a fraction outside (0, 1).
    """
    if (items is None) == (fraction is None):
        raise ValueError("pass exactly one of `items` (ids) or `fraction`.")
    if fraction is not None:
        check_float("fraction", fraction, 0.0, exclusive_minimum=True, maximum=1.0,
                    exclusive_maximum=True)
        pool = np.unique(split.test.targets)
        count = max(1, int(round(fraction * split.num_items)))
        if count > len(pool):
            raise ValueError(
                f"fraction={fraction} asks for {count} items but only {len(pool)} distinct "
                "items are test targets."
            )
        held = np.sort(np.random.default_rng(seed).choice(pool, size=count, replace=False))
    else:
        held = np.unique(np.asarray(items, dtype=np.int64).ravel())
        bad = (held < 1) | (held > split.num_items)
        if bad.any():
            raise ValueError(
                f"item id {int(held[bad][0])} is outside the catalog 1..{split.num_items}."
            )
        if len(held) == 0:
            raise ValueError("`items` is empty: nothing to hold out.")
    train = split.train
    target_cold = np.isin(train.targets, held)
    histories, removed, times = _remove_items(train.histories, held, train.history_timestamps)
    empty = ~(histories != 0).any(axis=1) & ~target_cold
    keep = ~target_cold & ~empty
    new_train = SplitPart(
        "train",
        histories[keep],
        train.targets[keep],
        train.user_ids[keep],
        train.timestamps[keep],
        (train.history_lengths - removed)[keep],
        train.num_items,
        None if times is None else times[keep],
    )
    report = [
        *split.report,
        {
            "step": "hold_out_items",
            "reason": f"{len(held)} held-out (cold) items removed from training",
            "removed_examples": int(target_cold.sum()),
            "removed_examples_empty_history": int(empty.sum()),
            "removed_history_items": int(removed[keep].sum()),
            "cold_valid_targets": int(np.isin(split.valid.targets, held).sum()),
            "cold_test_targets": int(np.isin(split.test.targets, held).sum()),
        },
    ]
    settings = {**split.settings, "held_out_items": [int(i) for i in held]}
    return dataclasses.replace(split, train=new_train, report=report, settings=settings)


def items_by_train_count(split: Split, max_count: int) -> np.ndarray:
    """Item ids (sorted) that are a training target at most `max_count`
    times (0 included: items never trained on)."""
    counts = split.train_item_counts()
    return np.flatnonzero(counts[1:] <= max_count) + 1
