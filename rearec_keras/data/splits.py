"""Train/validation/test splits that turn interactions into training examples.

Every protocol produces the same `Split` object. One example per target
interaction: its history is every earlier interaction of the same user
(oldest first), truncated to the last `max_length` items and **left-padded**
with 0, so the newest item always sits in the last column. The items' own
timestamps come aligned with them (`SplitPart.history_timestamps`, padding
slots 0) wherever the protocol knows them.

Protocols:

* `leave_one_out` — per user, the last interaction is the test target, the
  second-to-last the validation target, every earlier one (with at least
  `min_history` items before it) a training target. Histories of the
  validation/test targets include all earlier interactions (so the test
  history contains the validation item). The catalog is every item in the
  dataset. This is the protocol of SASRec, BERT4Rec and of our ml-100k runs.
* `temporal_split` — one global time line cut by two thresholds
  (`valid_start`, `test_start`), the ReaRec paper's Yelp protocol: targets
  before `valid_start` train, those in `[valid_start, test_start)`
  validate, the rest test. Histories cross the cut (a test row's history
  holds the user's training-period items). With `cold_items="drop"` (the
  paper's choice) the catalog is the set of items seen in training rows
  (as target or history) and validation/test rows whose target or visible
  history holds an unseen item are dropped and counted.
* `predefined_split` — the split is given per row (a `split` column), e.g.
  the official Amazon Reviews 2023 timestamp split files, whose `history`
  column is used as is when present. Such a column holds item ids only, so
  its parts have no history timestamps (`history_timestamps` is None); a
  model with a time bias refuses them.

Every dropped example is counted in `Split.report` with its reason.

Duplicates: every protocol first runs `drop_duplicates(dataset, duplicates)`
(`duplicates=` argument) unless the dataset's preprocessing already ran it.
Exact duplicate interactions (same user, item and timestamp) would put a
target into its own history: `"exact"` (default) drops them, counted in the
report; `"first"` / `"last"` keep one interaction per (user, item) pair;
`"none"` keeps everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

import numpy as np
import pandas as pd

from rearec_keras.data.preprocessing import DUPLICATE_MODES
from rearec_keras.data.preprocessing import _compose_vocab
from rearec_keras.data.preprocessing import drop_duplicates
from rearec_keras.data.preprocessing import index_ids
from rearec_keras.data.preprocessing import reindex_items
from rearec_keras.data.preprocessing import sort_chronologically
from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.dataset import ProcessingStep
from rearec_keras.datasets.validation import DataError
from rearec_keras.datasets.validation import show

logger = logging.getLogger("rearec_keras")

PARTS = ("train", "valid", "test")
COLD_ITEM_MODES = ("drop", "keep")


# The timestamp of a padding slot in `SplitPart.history_timestamps`.
TIMESTAMP_PADDING = 0


def model_input(histories, timestamps=None):
    """What a model's Keras call reads: the histories, or, with
    `timestamps` (a time bias), the dict `{"histories", "timestamps"}`."""
    return histories if timestamps is None else {"histories": histories,
                                                 "timestamps": timestamps}


def relative_timestamps(history_timestamps) -> np.ndarray:
    """The `"timestamps"` a model with a time bias reads: float32 `[n, L]`,
    each row's timestamps minus its newest one (the last column, always a
    real item in a left-padded row).

    The time bias reads only gaps between a row's slots, so the shift
    changes nothing in the model; it keeps the values exact in float32 and
    within int32 on every backend (JAX without x64 truncates int64, which
    millisecond epochs exceed). Padding slots get `0 - newest` (they are
    masked out of the attention).
    """
    values = np.asarray(history_timestamps)
    if values.ndim != 2:
        raise ValueError(f"timestamps must be 2-D [n, length], got shape {values.shape}.")
    if values.shape[1] == 0:
        return values.astype(np.float32)
    if np.issubdtype(values.dtype, np.integer):
        values = values.astype(np.int64)
    else:
        values = values.astype(np.float64)
    return (values - values[:, -1:]).astype(np.float32)


def left_pad_timestamps(rows, max_length: int, lengths=None) -> np.ndarray:
    """int64 `[B, max_length]`: rows of timestamps (lists or a 2-D array,
    oldest first), each keeping its newest `max_length` values, left-padded
    with `TIMESTAMP_PADDING` — aligned with histories padded the same way.

    Args:
        rows: one sequence of numbers per history.
        max_length: the padded length.
        lengths: optional length of each history row as given: every row of
            timestamps must have the same length (one timestamp per item).

    Raises:
        ValueError: a row that is not a sequence of integral numbers, or
            whose length differs from its history's.
    """
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__"):
        raise ValueError("timestamps must be one list of numbers per history")
    if lengths is not None and len(lengths) != len(rows):
        raise ValueError(f"timestamps have {len(rows)} row(s) but there are {len(lengths)} "
                         "histories; give one row of timestamps per history")
    out = np.full((len(rows), max_length), TIMESTAMP_PADDING, dtype=np.int64)
    for r, row in enumerate(rows):
        values = np.asarray(row)
        if values.ndim != 1 or values.dtype == np.bool_ or not np.issubdtype(values.dtype,
                                                                            np.number):
            raise ValueError(f"timestamps row {r} must be a list of numbers, got {row!r}")
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise ValueError(f"timestamps row {r} must hold whole numbers in the data's time "
                             f"unit (e.g. Unix seconds); got {row!r}")
        if lengths is not None and len(values) != lengths[r]:
            raise ValueError(f"timestamps row {r} has {len(values)} value(s) but its history has "
                             f"{lengths[r]} item(s); give one timestamp per item")
        kept = values[-max_length:].astype(np.int64)
        if len(kept):
            out[r, max_length - len(kept):] = kept
    return out


@dataclasses.dataclass
class SplitPart:
    """Examples of one split part, as aligned numpy arrays.

    Attributes:
        name: `"train"`, `"valid"` or `"test"`.
        histories: int32 `[n, max_length]`, item ids left-padded with 0.
        targets: int32 `[n]`, the item to predict (1..num_items).
        user_ids: int32 `[n]`, indexed user ids (1..num_users).
        timestamps: int64 `[n]`, time of the target interaction.
        history_lengths: int32 `[n]`, length of the full history before
            truncation to `max_length` (for grouping users by history
            length).
        num_items: the catalog size of the split the part belongs to
            (None for a part made by hand): every evaluation entry point
            refuses a model whose catalog differs.
        history_timestamps: int64 `[n, max_length]` or None: the time of
            each history item, aligned with `histories` (same order and
            truncation, padding slots `TIMESTAMP_PADDING` = 0), in the
            dataset's timestamp units. None when the protocol cannot know
            them (histories given by the data, e.g. the Amazon files'
            `history` column) or for a part made by hand without them.
        timestamp_inputs: whether `model_inputs()` and `as_dataset` give a
            model `{"histories", "timestamps"}` dicts instead of the
            histories (set by `for_model` for a model that reads
            timestamps, e.g. `ReaHSTU` with `time_buckets > 0`).
    """

    name: str
    histories: np.ndarray
    targets: np.ndarray
    user_ids: np.ndarray
    timestamps: np.ndarray
    history_lengths: np.ndarray
    num_items: int | None = None
    history_timestamps: np.ndarray | None = None
    timestamp_inputs: bool = False

    def __post_init__(self):
        self.histories = np.asarray(self.histories, dtype=np.int32)
        self.targets = np.asarray(self.targets, dtype=np.int32)
        self.user_ids = np.asarray(self.user_ids, dtype=np.int32)
        self.timestamps = np.asarray(self.timestamps, dtype=np.int64)
        self.history_lengths = np.asarray(self.history_lengths, dtype=np.int32)
        if self.histories.ndim != 2:
            raise ValueError(
                f"{self.name}: histories must be 2-D [n, max_length], got shape "
                f"{self.histories.shape}."
            )
        n = len(self.histories)
        for field in ("targets", "user_ids", "timestamps", "history_lengths"):
            arr = getattr(self, field)
            if arr.shape != (n,):
                raise ValueError(
                    f"{self.name}: {field} has shape {arr.shape}, expected ({n},) "
                    "to match histories."
                )
        if self.history_timestamps is not None:
            self.history_timestamps = np.asarray(self.history_timestamps, dtype=np.int64)
            if self.history_timestamps.shape != self.histories.shape:
                raise ValueError(
                    f"{self.name}: history_timestamps has shape "
                    f"{self.history_timestamps.shape}, expected {self.histories.shape} "
                    "(one per history slot, aligned with histories)."
                )
        self.timestamp_inputs = bool(self.timestamp_inputs)
        if self.timestamp_inputs:
            self._require_timestamps("timestamp_inputs=True")

    def __len__(self) -> int:
        return int(len(self.targets))

    @property
    def max_length(self) -> int:
        return int(self.histories.shape[1])

    def _require_timestamps(self, who: str):
        if self.history_timestamps is None:
            raise ValueError(
                f"{who} reads the history items' timestamps, but the {self.name!r} part has "
                "none (history_timestamps is None: its histories came without times, e.g. "
                "the Amazon files' 'history' column, or the part was made by hand). Use a "
                "split whose protocol builds the histories from timestamped interactions "
                "(leave_one_out, temporal_split, predefined_split without a history "
                "column), or a model without a time bias (time_buckets=0)."
            )

    def for_model(self, model) -> "SplitPart":
        """This part, giving `model` the inputs it reads: with
        `timestamp_inputs` set when the model reads timestamps
        (`model.uses_timestamps`, e.g. `ReaHSTU(time_buckets > 0)`), so that
        `as_dataset` and `model_inputs()` yield `{"histories",
        "timestamps"}` dicts; unchanged inputs otherwise.

        Raises:
            ValueError: the model reads timestamps and the part has none.
        """
        wanted = bool(getattr(model, "uses_timestamps", False))
        if wanted:
            self._require_timestamps(f"{type(model).__name__} (it has a time bias)")
        if wanted == self.timestamp_inputs:
            return self
        return dataclasses.replace(self, timestamp_inputs=wanted)

    def model_inputs(self, indices=None, timestamps: bool | None = None):
        """What a model reads for the examples at `indices` (default all):
        the histories, or `{"histories": int32 [n, L], "timestamps":
        float32 [n, L]}` when `timestamps` (default `timestamp_inputs`);
        the timestamps are `relative_timestamps(history_timestamps)`."""
        timestamps = self.timestamp_inputs if timestamps is None else bool(timestamps)
        rows = slice(None) if indices is None else indices
        if not timestamps:
            return model_input(self.histories[rows])
        self._require_timestamps("timestamp inputs")
        return model_input(self.histories[rows],
                           relative_timestamps(self.history_timestamps[rows]))

    def subset(self, indices) -> "SplitPart":
        """The examples at `indices` (an index array or boolean mask)."""
        indices = np.asarray(indices)
        return SplitPart(
            self.name,
            self.histories[indices],
            self.targets[indices],
            self.user_ids[indices],
            self.timestamps[indices],
            self.history_lengths[indices],
            self.num_items,
            None if self.history_timestamps is None else self.history_timestamps[indices],
            self.timestamp_inputs,
        )

    def as_dataset(
        self,
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        drop_remainder: bool = False,
        repeat: bool = False,
        with_user_ids: bool = False,
        timestamps: bool | None = None,
    ):
        """A `tf.data.Dataset` of `(histories, targets)` batches.

        Built from the in-memory arrays (index shuffling + batched gather,
        then prefetch), so it is never the training bottleneck. Works with
        `model.fit` under every Keras backend (Keras reads `tf.data` input
        on JAX and PyTorch too). Without TensorFlow installed, the same
        batches come as a `keras.utils.PyDataset` (`ArrayBatches`).

        Args:
            batch_size: examples per batch.
            shuffle: reshuffle the examples every epoch.
            seed: shuffle seed (same seed, same order of epochs).
            drop_remainder: drop the last incomplete batch.
            repeat: repeat forever (then pass `steps_per_epoch` to fit).
            with_user_ids: yield `((histories, user_ids), targets)`.
            timestamps: yield `({"histories", "timestamps"}, targets)`, the
                inputs of a model with a time bias (`model_inputs`). None
                (default): `timestamp_inputs`, set by `for_model(model)`.
        """
        from rearec_keras.data.pipeline import make_dataset

        timestamps = self.timestamp_inputs if timestamps is None else bool(timestamps)
        if timestamps and with_user_ids:
            raise ValueError("as_dataset yields user ids or timestamps with the histories, "
                             "not both (with_user_ids=True, timestamps=True).")
        if timestamps:
            inputs = self.model_inputs(timestamps=True)
        else:
            inputs = (self.histories, self.user_ids) if with_user_ids else self.histories
        return make_dataset(
            inputs,
            self.targets,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_remainder=drop_remainder,
            repeat=repeat,
        )

    def __repr__(self) -> str:
        times = "" if self.history_timestamps is not None else ", history_timestamps=None"
        return (f"SplitPart(name={self.name!r}, examples={len(self):,}, "
                f"max_length={self.max_length}{times})")


@dataclasses.dataclass
class Split:
    """The result of a split protocol.

    Attributes:
        train, valid, test: `SplitPart`s.
        num_items: catalog size; item ids are 1..num_items, 0 is padding.
            Models score `num_items + 1` columns.
        num_users: number of indexed users (ids 1..num_users).
        max_length: history length of every example.
        protocol: `"leave_one_out"`, `"temporal"` or `"predefined"`.
        item_vocab: `item_vocab[i]` is the dataset's original id of item
            `i` (`item_vocab[0]` is None).
        user_vocab: the same for users.
        items: item metadata keyed by the new item ids, or None.
        report: one record per step that removed examples or interactions
            (dicts with counts and reasons), including the dataset's
            preprocessing steps.
        settings: the protocol's arguments (thresholds, min_history, ...).
    """

    train: SplitPart
    valid: SplitPart
    test: SplitPart
    num_items: int
    num_users: int
    max_length: int
    protocol: str
    item_vocab: np.ndarray
    user_vocab: np.ndarray
    items: pd.DataFrame | None = None
    report: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __iter__(self):
        return iter((self.train, self.valid, self.test))

    def train_item_counts(self) -> np.ndarray:
        """int64 `[num_items + 1]`: how often each item is a training target."""
        return np.bincount(self.train.targets, minlength=self.num_items + 1).astype(np.int64)

    def fingerprint(self) -> str:
        """A SHA-256 hex digest of what a model trains and is evaluated on:
        the catalog size, the history length and every part's histories,
        targets and users. Two splits with the same fingerprint give the
        same metrics; a run directory stores it (`data.json`) and refuses
        other data."""
        digest = hashlib.sha256()
        digest.update(f"{self.protocol}:{self.num_items}:{self.max_length}".encode())
        for part in self:
            digest.update(part.name.encode())
            for arr in (part.histories, part.targets, part.user_ids):
                digest.update(np.ascontiguousarray(arr, dtype=np.int32).tobytes())
        return digest.hexdigest()

    def timestamps_fingerprint(self) -> str | None:
        """A SHA-256 hex digest of every part's `history_timestamps` (what a
        model with a time bias reads beyond `fingerprint()`), or None when a
        part has none. Stored in `data.json` next to the fingerprint."""
        if any(part.history_timestamps is None for part in self):
            return None
        digest = hashlib.sha256()
        for part in self:
            digest.update(part.name.encode())
            digest.update(np.ascontiguousarray(part.history_timestamps, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def statistics(self) -> dict[str, Any]:
        """JSON-ready counts: examples per part, catalog, users, report,
        the data `fingerprint` and `timestamps_fingerprint`."""
        return {
            "protocol": self.protocol,
            "num_users": self.num_users,
            "num_items": self.num_items,
            "max_length": self.max_length,
            "examples": {p.name: len(p) for p in self},
            "avg_history_length": {
                p.name: float(p.history_lengths.mean()) if len(p) else 0.0 for p in self
            },
            "settings": _jsonable(self.settings),
            "report": self.report,
            "fingerprint": self.fingerprint(),
            "timestamps_fingerprint": self.timestamps_fingerprint(),
        }

    def __repr__(self) -> str:
        return (
            f"Split(protocol={self.protocol!r}, train={len(self.train):,}, "
            f"valid={len(self.valid):,}, test={len(self.test):,}, "
            f"num_items={self.num_items:,}, num_users={self.num_users:,}, "
            f"max_length={self.max_length})"
        )


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value.item() if hasattr(value, "item") else value


# ----------------------------------------------------------------------------
# Shared machinery.


def left_padded_windows(
    flat: np.ndarray, starts: np.ndarray, ends: np.ndarray, max_length: int, dtype=np.int32
) -> np.ndarray:
    """Rows `flat[starts[r]:ends[r]]`, keeping the last `max_length` items,
    left-padded with 0: `[len(starts), max_length]` of `dtype` (int32 for
    item ids, int64 for timestamps). Vectorised."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    idx = ends[:, None] - max_length + np.arange(max_length, dtype=np.int64)[None, :]
    valid = idx >= starts[:, None]
    if len(flat) == 0:
        return np.zeros((len(starts), max_length), dtype=dtype)
    out = np.where(valid, np.asarray(flat)[np.clip(idx, 0, len(flat) - 1)], 0)
    return out.astype(dtype)


def _check_common(max_length, min_history) -> dict[str, int]:
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}.")
    if isinstance(min_history, dict):
        unknown = set(min_history) - set(PARTS)
        if unknown:
            raise ValueError(
                f"min_history has unknown split name(s) {sorted(unknown)}; use {list(PARTS)}."
            )
        per_part = {p: min_history.get(p, 1) for p in PARTS}
    else:
        per_part = {p: min_history for p in PARTS}
    for part, value in per_part.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(
                f"min_history for '{part}' must be an integer >= 1 (an example needs "
                f"at least one history item), got {value!r}."
            )
    return {p: int(v) for p, v in per_part.items()}


@dataclasses.dataclass
class _Rows:
    """Candidate examples in provisional item ids (1..M over `raw_items`)."""

    flat: np.ndarray  # provisional item ids the windows read from
    starts: np.ndarray
    ends: np.ndarray
    targets: np.ndarray
    users: np.ndarray  # indexed user ids
    timestamps: np.ndarray
    parts: np.ndarray  # 0 train, 1 valid, 2 test, -1 none
    flat_timestamps: np.ndarray | None = None  # the time of each `flat` entry, if known


def _finalize(
    rows: _Rows,
    raw_items: np.ndarray,
    dataset: InteractionDataset,
    user_vocab: np.ndarray,
    *,
    protocol: str,
    max_length: int,
    min_history: dict[str, int],
    cold_items: str,
    report: list[dict[str, Any]],
    settings: dict[str, Any],
) -> Split:
    lengths = (rows.ends - rows.starts).astype(np.int64)
    histories = left_padded_windows(rows.flat, rows.starts, rows.ends, max_length)
    history_times = None
    if rows.flat_timestamps is not None:
        history_times = left_padded_windows(rows.flat_timestamps, rows.starts, rows.ends,
                                            max_length, dtype=np.int64)
    keep = rows.parts >= 0
    for code, part in enumerate(PARTS):
        short = (rows.parts == code) & (lengths < min_history[part])
        if short.any():
            report.append(
                {
                    "step": f"{part}_min_history",
                    "reason": f"{part} targets with fewer than {min_history[part]} "
                    "history item(s)",
                    "removed_examples": int(short.sum()),
                }
            )
        keep &= ~short

    num_items_before = len(raw_items)
    new_of_old = np.arange(num_items_before + 1, dtype=np.int64)  # identity
    if cold_items == "drop":
        train_rows = keep & (rows.parts == 0)
        known = np.zeros(num_items_before + 1, dtype=bool)
        known[rows.targets[train_rows]] = True
        known[histories[train_rows].ravel()] = True
        known[0] = True
        for code, part in ((1, "valid"), (2, "test")):
            sel = keep & (rows.parts == code)
            target_cold = sel & ~known[rows.targets]
            history_cold = sel & ~target_cold & ~known[histories].all(axis=1)
            for mask, what in (
                (target_cold, "target is"),
                (history_cold, "visible history holds"),
            ):
                if mask.any():
                    report.append(
                        {
                            "step": f"{part}_cold_items",
                            "reason": f"{part} rows whose {what} an item never seen "
                            "in training rows",
                            "removed_examples": int(mask.sum()),
                        }
                    )
            keep &= ~(target_cold | history_cold)
        known[0] = False
        kept_items = np.flatnonzero(known)  # provisional ids, sorted
        new_of_old = np.zeros(num_items_before + 1, dtype=np.int64)
        new_of_old[kept_items] = np.arange(1, len(kept_items) + 1)
        if len(kept_items) < num_items_before:
            report.append(
                {
                    "step": "catalog_train_items",
                    "reason": "items never seen in training rows left out of the catalog",
                    "removed_items": int(num_items_before - len(kept_items)),
                }
            )
        raw_items = raw_items[kept_items - 1]

    parts = {}
    for code, part in enumerate(PARTS):
        sel = keep & (rows.parts == code)
        parts[part] = SplitPart(
            part,
            new_of_old[histories[sel]],
            new_of_old[rows.targets[sel]],
            rows.users[sel],
            rows.timestamps[sel],
            lengths[sel],
            num_items=int(len(raw_items)),
            history_timestamps=None if history_times is None else history_times[sel],
        )
        if len(parts[part]) == 0:
            raise DataError(
                f"{dataset.name}: the {protocol} split leaves no {part} examples "
                f"(settings: {_jsonable(settings)}). {_empty_hint(protocol, part)}"
            )
    items, _ = reindex_items(dataset.items, raw_items)
    split = Split(
        train=parts["train"],
        valid=parts["valid"],
        test=parts["test"],
        num_items=int(len(raw_items)),
        num_users=int(len(user_vocab) - 1),
        max_length=int(max_length),
        protocol=protocol,
        item_vocab=_compose_vocab(dataset.item_vocab, raw_items),
        user_vocab=user_vocab,
        items=items,
        report=[s.to_dict() for s in dataset.processing] + report,
        settings=settings,
    )
    logger.info("%s: %r", dataset.name, split)
    for record in report:
        logger.info("%s: %s", dataset.name, record)
    return split


def _empty_hint(protocol: str, part: str) -> str:
    if protocol == "temporal":
        return "Check the time thresholds against the data's time span."
    if protocol == "predefined":
        return f"Check that the 'split' column holds '{part}' rows."
    return "Lower min_history or use a larger dataset."


def _deduplicated(dataset: InteractionDataset, duplicates: str) -> InteractionDataset:
    """`drop_duplicates(dataset, duplicates)`, unless the dataset's
    preprocessing already ran that step (then it is as the user chose)."""
    if duplicates not in DUPLICATE_MODES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_MODES}, got {duplicates!r}.")
    if any(step.step == "drop_duplicates" for step in dataset.processing):
        return dataset
    return drop_duplicates(dataset, duplicates)


def _sequences(dataset: InteractionDataset):
    """Sorted arrays: provisional item ids (over sorted current ids), users."""
    frame = dataset.interactions.sort_values(["user_id", "timestamp"], kind="stable")
    raw_items = np.sort(pd.unique(frame["item_id"]))
    items = pd.Index(raw_items).get_indexer(frame["item_id"]).astype(np.int64) + 1
    raw_users = np.sort(pd.unique(frame["user_id"]))
    users = pd.Index(raw_users).get_indexer(frame["user_id"]).astype(np.int64) + 1
    n = len(frame)
    boundaries = np.flatnonzero(users[1:] != users[:-1]) + 1
    seg_starts = np.concatenate([[0], boundaries]).astype(np.int64)
    seg_lengths = np.diff(np.concatenate([seg_starts, [n]]))
    starts = np.repeat(seg_starts, seg_lengths)
    user_vocab = _compose_vocab(dataset.user_vocab, raw_users)
    return frame, items, users, starts, seg_lengths, raw_items, user_vocab


# ----------------------------------------------------------------------------
# Protocols.


def leave_one_out(
    dataset: InteractionDataset,
    max_length: int = 50,
    *,
    min_history: int | dict[str, int] = 1,
    short_users: str = "raise",
    duplicates: str = "exact",
) -> Split:
    """Leave-one-out split: last item test, second-to-last validation.

    Args:
        dataset: interactions (any ids; they are indexed here, in sorted
            order of the dataset's ids).
        max_length: history length kept per example (paper: 50).
        min_history: minimum number of history items for a target to
            become an example; an int or a dict per part.
        short_users: users with fewer than 3 interactions cannot give a
            train, validation and test target: `"raise"` (default) raises a
            `DataError` naming them, `"drop"` removes them and records how
            many.
        duplicates: repeated interactions, see the module docstring
            (default `"exact"`).

    Returns:
        A `Split` whose `valid` and `test` parts hold one example per user.

    Example:
    >>> ds = rearec_keras.datasets.load_movielens("ml-100k")  # doctest: +SKIP
    >>> split = leave_one_out(ds, max_length=50)  # doctest: +SKIP
    >>> len(split.test), split.num_items  # doctest: +SKIP
    (943, 1682)
    """
    min_history = _check_common(max_length, min_history)
    if short_users not in ("raise", "drop"):
        raise ValueError(f"short_users must be 'raise' or 'drop', got {short_users!r}.")
    dataset = _deduplicated(dataset, duplicates)
    counts = dataset.interactions.groupby("user_id", sort=True).size()
    short = counts[counts < 3]
    if len(short):
        if short_users == "raise":
            shown = ", ".join(f"{show(u)} ({c})" for u, c in short.head(5).items())
            raise DataError(
                f"{dataset.name}: {len(short):,} user(s) have fewer than 3 interactions, "
                f"too short for leave-one-out (one each for train, validation and test): "
                f"{shown}{' ...' if len(short) > 5 else ''}. Apply k_core(dataset, 3) "
                "first or pass short_users='drop'."
            )
        frame = dataset.interactions
        kept = frame[~frame["user_id"].isin(short.index)].reset_index(drop=True)
        if len(kept) == 0:
            raise DataError(f"{dataset.name}: every user has fewer than 3 interactions.")
        n0, u0, i0 = len(frame), frame["user_id"].nunique(), frame["item_id"].nunique()
        step = ProcessingStep(
            "drop_short_users", "users with < 3 interactions (leave-one-out)",
            n0, len(kept), u0, kept["user_id"].nunique(), i0, kept["item_id"].nunique(),
        )
        logger.info("%s: %s", dataset.name, step)
        dataset = dataset.replace(interactions=kept, processing=[*dataset.processing, step])
    frame, items, users, starts, seg_lengths, raw_items, user_vocab = _sequences(dataset)
    n = len(frame)
    positions = np.arange(n, dtype=np.int64)
    from_end = starts + np.repeat(seg_lengths, seg_lengths) - positions  # 1 = last
    parts = np.where(from_end == 1, 2, np.where(from_end == 2, 1, 0))
    rows = _Rows(
        flat=items,
        starts=starts,
        ends=positions,
        targets=items,
        users=users,
        timestamps=frame["timestamp"].to_numpy(),
        parts=parts,
        flat_timestamps=frame["timestamp"].to_numpy(),
    )
    settings = {"max_length": max_length, "min_history": min_history, "short_users": short_users,
                "duplicates": duplicates}
    return _finalize(
        rows, raw_items, dataset, user_vocab,
        protocol="leave_one_out", max_length=max_length, min_history=min_history,
        cold_items="keep", report=[], settings=settings,
    )


def _to_timestamp(value, dataset: InteractionDataset, what: str):
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return value
    unit = dataset.timestamp_unit
    if unit not in ("s", "ms"):
        raise ValueError(
            f"{what}={value!r} is a date but the dataset's timestamps have no known unit "
            "(timestamp_unit is None); pass a number in the timestamp column's units."
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{what}={value!r} is neither a number nor a date: {e}") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    seconds = stamp.timestamp()
    return int(seconds * 1000) if unit == "ms" else seconds


def temporal_split(
    dataset: InteractionDataset,
    valid_start=None,
    test_start=None,
    *,
    span_fractions: tuple[float, float] | None = None,
    max_length: int = 50,
    min_history: int | dict[str, int] = 1,
    cold_items: str = "drop",
    duplicates: str = "exact",
) -> Split:
    """Global temporal split by two time thresholds (the paper's Yelp protocol).

    Targets with `timestamp < valid_start` are training examples, those in
    `[valid_start, test_start)` validation and the rest test. Histories are
    each user's earlier interactions across the whole time line.

    Args:
        dataset: interactions.
        valid_start, test_start: thresholds, as numbers in the timestamp
            column's units or dates (`"2018-09-04 08:16"`, interpreted as
            UTC) when the dataset's `timestamp_unit` is known.
        span_fractions: instead of thresholds, fractions of the data's time
            span, e.g. `(0.8, 0.9)` as in the paper for Yelp.
        max_length: history length kept per example.
        min_history: minimum history items per example (int or dict per
            part). The paper uses 5 for every Yelp row.
        cold_items: `"drop"` (paper): the catalog is the items seen in
            training rows; validation/test rows whose target or visible
            history holds another item are dropped and counted. `"keep"`:
            the catalog is every item.
        duplicates: repeated interactions, see the module docstring
            (default `"exact"`).

    Returns:
        A `Split`.
    """
    min_history = _check_common(max_length, min_history)
    if cold_items not in COLD_ITEM_MODES:
        raise ValueError(f"cold_items must be one of {COLD_ITEM_MODES}, got {cold_items!r}.")
    dataset = _deduplicated(dataset, duplicates)
    ts_all = dataset.interactions["timestamp"]
    if span_fractions is not None:
        if valid_start is not None or test_start is not None:
            raise ValueError("Pass either valid_start/test_start or span_fractions, not both.")
        f1, f2 = span_fractions
        if not 0 < f1 < f2 < 1:
            raise ValueError(f"span_fractions must satisfy 0 < valid < test < 1, got {span_fractions}.")
        lo, hi = float(ts_all.min()), float(ts_all.max())
        valid_start, test_start = lo + f1 * (hi - lo), lo + f2 * (hi - lo)
    elif valid_start is None or test_start is None:
        raise ValueError("temporal_split needs valid_start and test_start (or span_fractions).")
    valid_start = _to_timestamp(valid_start, dataset, "valid_start")
    test_start = _to_timestamp(test_start, dataset, "test_start")
    if not valid_start < test_start:
        raise ValueError(f"valid_start ({valid_start}) must be before test_start ({test_start}).")
    frame, items, users, starts, _, raw_items, user_vocab = _sequences(dataset)
    ts = frame["timestamp"].to_numpy()
    parts = np.where(ts < valid_start, 0, np.where(ts < test_start, 1, 2))
    rows = _Rows(items, starts, np.arange(len(frame)), items, users, ts, parts,
                 flat_timestamps=ts)
    settings = {
        "valid_start": valid_start, "test_start": test_start, "max_length": max_length,
        "min_history": min_history, "cold_items": cold_items,
        "span_fractions": span_fractions, "duplicates": duplicates,
    }
    return _finalize(
        rows, raw_items, dataset, user_vocab,
        protocol="temporal", max_length=max_length, min_history=min_history,
        cold_items=cold_items, report=[], settings=settings,
    )


def predefined_split(
    dataset: InteractionDataset,
    max_length: int = 50,
    *,
    min_history: int | dict[str, int] = 1,
    cold_items: str = "drop",
    split_column: str = "split",
    history_column: str | None = "history",
    duplicates: str = "exact",
) -> Split:
    """Split given per row, e.g. the official Amazon Reviews 2023 files.

    Args:
        dataset: interactions with a `split_column` holding `"train"`,
            `"valid"` or `"test"` for every row.
        max_length: history length kept per example.
        min_history: minimum history items (int or dict per part). The
            paper: valid/test >= 5 (CDs >= 10); train >= 1 (Video & Games,
            Baby) or >= 10 (CDs, Software).
        cold_items: as in `temporal_split` (paper: `"drop"`, with the
            catalog remapped over the training item set).
        history_column: a column of per-row histories (tuples of item ids,
            oldest first) used as given — the Amazon files' histories may
            hold low-rated items that were filtered out as targets. If the
            column is absent (or None), histories are built from the
            dataset's chronological interactions. A history column holds
            no times: the parts' `history_timestamps` are then None.
        duplicates: repeated interactions, see the module docstring
            (default `"exact"`).
    """
    min_history = _check_common(max_length, min_history)
    if cold_items not in COLD_ITEM_MODES:
        raise ValueError(f"cold_items must be one of {COLD_ITEM_MODES}, got {cold_items!r}.")
    dataset = _deduplicated(dataset, duplicates)
    frame = dataset.interactions
    if split_column not in frame.columns:
        raise DataError(
            f"{dataset.name}: predefined_split needs a '{split_column}' column; found "
            f"{list(frame.columns)}."
        )
    labels = frame[split_column].astype(str)
    bad = ~labels.isin(PARTS)
    if bad.any():
        raise DataError(
            f"{dataset.name}: column '{split_column}' must hold {list(PARTS)}; found "
            f"{sorted(labels[bad].unique().tolist())[:5]} in {int(bad.sum()):,} row(s)."
        )
    settings = {
        "max_length": max_length, "min_history": min_history, "cold_items": cold_items,
        "split_column": split_column, "history_column": history_column,
        "duplicates": duplicates,
    }
    if history_column is None or history_column not in frame.columns:
        sorted_frame, items, users, starts, _, raw_items, user_vocab = _sequences(dataset)
        parts = sorted_frame[split_column].map({p: i for i, p in enumerate(PARTS)}).to_numpy()
        times = sorted_frame["timestamp"].to_numpy()
        rows = _Rows(
            items, starts, np.arange(len(sorted_frame)), items, users, times, parts,
            flat_timestamps=times,
        )
    else:
        frame = frame.sort_values(["user_id", "timestamp"], kind="stable")
        histories = frame[history_column]
        not_seq = ~histories.map(lambda h: isinstance(h, (tuple, list, np.ndarray)))
        if not_seq.any():
            raise DataError(
                f"{dataset.name}: column '{history_column}' must hold a tuple of item ids "
                f"per row; row {frame.index[not_seq.to_numpy()][0]} holds "
                f"{show(histories[not_seq].iloc[0])}."
            )
        hist_lengths = histories.map(len).to_numpy(dtype=np.int64)
        flat_raw = pd.Series(
            [i for h in histories for i in h], dtype=frame["item_id"].dtype
        ) if hist_lengths.sum() else pd.Series([], dtype=frame["item_id"].dtype)
        raw_items = np.sort(pd.unique(pd.concat([frame["item_id"], flat_raw], ignore_index=True)))
        index = pd.Index(raw_items)
        flat = index.get_indexer(flat_raw).astype(np.int64) + 1
        targets = index.get_indexer(frame["item_id"]).astype(np.int64) + 1
        raw_users = np.sort(pd.unique(frame["user_id"]))
        users = pd.Index(raw_users).get_indexer(frame["user_id"]).astype(np.int64) + 1
        user_vocab = _compose_vocab(dataset.user_vocab, raw_users)
        ends = np.cumsum(hist_lengths)
        rows = _Rows(
            flat, ends - hist_lengths, ends, targets, users,
            frame["timestamp"].to_numpy(),
            frame[split_column].map({p: i for i, p in enumerate(PARTS)}).to_numpy(),
        )
    return _finalize(
        rows, raw_items, dataset, user_vocab,
        protocol="predefined", max_length=max_length, min_history=min_history,
        cold_items=cold_items, report=[], settings=settings,
    )
