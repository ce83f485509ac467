"""The one dataset object every loader returns."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from rearec_keras.datasets.validation import validate_interactions
from rearec_keras.datasets.validation import validate_items

REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")
OPTIONAL_COLUMNS = ("rating",)


@dataclasses.dataclass
class ProcessingStep:
    """What one preprocessing step did, in counts.

    Attributes:
        step: short name of the step (e.g. `"min_rating"`, `"k_core"`).
        reason: one sentence a person can read (e.g. `"rating <= 3"`).
        interactions_before / interactions_after: row counts.
        users_before / users_after, items_before / items_after: distinct
            id counts.
        details: extra step-specific numbers (e.g. k-core iterations).
    """

    step: str
    reason: str
    interactions_before: int
    interactions_after: int
    users_before: int
    users_after: int
    items_before: int
    items_after: int
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def removed_interactions(self) -> int:
        return self.interactions_before - self.interactions_after

    @property
    def removed_users(self) -> int:
        return self.users_before - self.users_after

    @property
    def removed_items(self) -> int:
        return self.items_before - self.items_after

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["removed_interactions"] = self.removed_interactions
        out["removed_users"] = self.removed_users
        out["removed_items"] = self.removed_items
        return out

    def __str__(self) -> str:
        return (
            f"{self.step}: removed {self.removed_interactions:,} interactions, "
            f"{self.removed_users:,} users, {self.removed_items:,} items "
            f"({self.reason}); now {self.interactions_after:,} interactions, "
            f"{self.users_after:,} users, {self.items_after:,} items"
        )


@dataclasses.dataclass
class InteractionDataset:
    """User-item interactions plus optional item metadata.

    Every loader in `rearec_keras.datasets` returns this object, and every
    step in `rearec_keras.data` takes one and returns a new one (they never
    modify their input).

    Attributes:
        interactions: `pandas.DataFrame` with at least the columns
            `user_id`, `item_id`, `timestamp` and optionally `rating`. Ids
            are the dataset's own ids (integers >= 0 or non-empty strings)
            until `rearec_keras.data.index_ids` maps them to contiguous
            integers (items `1..num_items`, 0 reserved for padding).
            Loaders for pre-split data add a `split` column
            (`"train"`/`"valid"`/`"test"`) and may add a `history` column
            (a tuple of item ids per row, oldest first).
        items: optional `pandas.DataFrame` of item metadata with an
            `item_id` column in the same id space as `interactions` (e.g.
            `title`, `year`, `genres`).
        name: a short name (e.g. `"ml-100k"`).
        timestamp_unit: `"s"` or `"ms"` when timestamps are Unix epochs,
            `None` when they are only an order.
        processing: the preprocessing steps applied so far, in order.
        item_vocab: after `index_ids`, `item_vocab[i]` is the original id
            of item `i` (`item_vocab[0]` is `None`, the padding id);
            `None` before.
        user_vocab: the same for users (`user_vocab[0]` is `None`).
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    name: str = "dataset"
    timestamp_unit: str | None = None
    processing: list[ProcessingStep] = dataclasses.field(default_factory=list)
    item_vocab: np.ndarray | None = None
    user_vocab: np.ndarray | None = None

    def __post_init__(self):
        # Shallow copies: normalising dtypes never touches the caller's frame.
        if isinstance(self.interactions, pd.DataFrame):
            self.interactions = self.interactions.copy(deep=False)
        self.interactions = validate_interactions(self.interactions, source=self.name)
        if self.items is not None:
            if isinstance(self.items, pd.DataFrame):
                self.items = self.items.copy(deep=False)
            self.items = validate_items(self.items, source=self.name)

    @property
    def num_users(self) -> int:
        """Number of distinct users with at least one interaction."""
        return int(self.interactions["user_id"].nunique())

    @property
    def num_items(self) -> int:
        """Number of distinct items with at least one interaction.

        After `index_ids` this equals the largest item id (ids are
        `1..num_items`).
        """
        return int(self.interactions["item_id"].nunique())

    @property
    def num_interactions(self) -> int:
        return int(len(self.interactions))

    @property
    def is_indexed(self) -> bool:
        """Whether ids are contiguous integers 1..N (see `index_ids`)."""
        return self.item_vocab is not None and self.user_vocab is not None

    @property
    def has_ratings(self) -> bool:
        return "rating" in self.interactions.columns

    def statistics(self) -> dict[str, Any]:
        """Counts a paper's dataset table reports, as a JSON-ready dict."""
        inter = self.interactions
        per_user = inter.groupby("user_id", sort=False).size()
        per_item = inter.groupby("item_id", sort=False).size()
        n_u, n_i, n = self.num_users, self.num_items, self.num_interactions
        stats = {
            "name": self.name,
            "num_users": n_u,
            "num_items": n_i,
            "num_interactions": n,
            "density": float(n / (n_u * n_i)) if n_u and n_i else 0.0,
            "avg_interactions_per_user": float(per_user.mean()) if n else 0.0,
            "min_interactions_per_user": int(per_user.min()) if n else 0,
            "max_interactions_per_user": int(per_user.max()) if n else 0,
            "avg_interactions_per_item": float(per_item.mean()) if n else 0.0,
            "min_interactions_per_item": int(per_item.min()) if n else 0,
        }
        if n:
            stats["timestamp_min"] = _py(inter["timestamp"].min())
            stats["timestamp_max"] = _py(inter["timestamp"].max())
        if self.has_ratings and n:
            stats["rating_counts"] = {
                str(_py(k)): int(v)
                for k, v in inter["rating"].value_counts().sort_index().items()
            }
        stats["processing"] = [s.to_dict() for s in self.processing]
        return stats

    def replace(self, **changes) -> "InteractionDataset":
        """A copy with some fields replaced (the input is not modified)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        meta = "none" if self.items is None else f"{len(self.items):,} rows"
        return (
            f"InteractionDataset(name={self.name!r}, "
            f"num_users={self.num_users:,}, num_items={self.num_items:,}, "
            f"num_interactions={self.num_interactions:,}, item_metadata={meta}, "
            f"indexed={self.is_indexed})"
        )


def _py(value):
    """numpy scalar -> Python scalar for JSON."""
    return value.item() if hasattr(value, "item") else value
