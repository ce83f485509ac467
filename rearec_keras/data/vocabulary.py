"""The dataset's own ids (and titles) of a trained model's items and users.

Models, training and evaluation use internal ids (items 1..N, 0 is
padding). A `Vocabulary` maps between those and the ids the data had
(strings or integers), so a run directory, an export or a service answers
with the dataset's own ids. Every run writes one (`vocabulary.json`), and
`export_serving` copies it next to the SavedModel.

    vocab = Vocabulary.from_split(split)
    histories = vocab.histories([["50", "172"], ["1"]], max_length=50)  # int32, left-padded
    ids, scores = model.recommend(histories, k=10)
    vocab.item_ids(ids)           # the dataset's ids, same shape
    vocab.titles(ids)             # titles where the data has them, else None

Raw ids are compared by their text (`50` and `"50"` are the same id), and
an id the vocabulary does not know is an error naming it, never padding.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

FILE = "vocabulary.json"
FORMAT = "rearec_keras.vocabulary/1"
ID_TYPES = ("int", "str")


def _plain(value):
    """A raw id as a JSON value: numpy integers as int, anything else as str."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return str(value)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Raw ids of items 1..N (and users), with optional item titles.

    Attributes:
        items: the raw id of item `i` at `items[i - 1]` (N entries).
        users: the raw user ids, user `u` at `users[u - 1]` (or None).
        titles: the title of item `i` at `titles[i - 1]` (None where the
            data has none), or None when the data has no titles at all.
    """

    items: tuple
    users: tuple | None = None
    titles: tuple | None = None

    def __post_init__(self):
        items = tuple(_plain(v) for v in self.items)
        object.__setattr__(self, "items", items)
        if self.users is not None:
            object.__setattr__(self, "users", tuple(_plain(v) for v in self.users))
        keys = [str(v) for v in items]
        if len(set(keys)) != len(keys):
            seen, repeated = set(), []
            for key in keys:
                if key in seen:
                    repeated.append(key)
                seen.add(key)
            raise ValueError(f"the item vocabulary repeats the id(s) {repeated[:5]}: raw ids "
                             "must be unique (compared as text)")
        if any(key == "" for key in keys):
            raise ValueError("the item vocabulary holds an empty id")
        if self.titles is not None and len(self.titles) != len(items):
            raise ValueError(f"titles has {len(self.titles)} entries for {len(items)} items")
        object.__setattr__(self, "_index", {key: i + 1 for i, key in enumerate(keys)})

    # ------------------------------------------------------------------ build

    @classmethod
    def from_split(cls, split) -> "Vocabulary":
        """The vocabulary of a `Split` (its `item_vocab`, `user_vocab` and
        the `title` column of its item metadata, when there is one)."""
        items = list(split.item_vocab[1:])
        users = None if split.user_vocab is None else list(split.user_vocab[1:])
        titles = None
        meta = split.items
        if meta is not None and "title" in meta.columns and "item_id" in meta.columns:
            by_item = dict(zip(meta["item_id"].astype(int), meta["title"]))
            titles = tuple(None if by_item.get(i) is None or by_item.get(i) != by_item.get(i)
                           else str(by_item[i]) for i in range(1, len(items) + 1))
        return cls(tuple(items), None if users is None else tuple(users), titles)

    @property
    def num_items(self) -> int:
        return len(self.items)

    def check_model(self, model):
        """Raises `ValueError` unless `model` scores exactly these items."""
        if self.num_items != model.num_items:
            raise ValueError(f"the vocabulary lists {self.num_items:,} items but the model "
                             f"scores {model.num_items:,}")

    @property
    def id_type(self) -> str:
        """`"int"` when every item id is an integer, else `"str"`."""
        return "int" if all(isinstance(v, int) for v in self.items) else "str"

    # ---------------------------------------------------------------- mapping

    def item_index(self, raw_ids) -> np.ndarray:
        """int32 internal ids of raw item ids (any shape); unknown ids raise
        `ValueError` naming them."""
        arr = np.asarray(raw_ids, dtype=object)
        flat = [self._index.get(str(_plain(v)), 0) for v in arr.reshape(-1)]
        unknown = [v for v, i in zip(arr.reshape(-1), flat) if i == 0]
        if unknown:
            shown = ", ".join(repr(_plain(v)) for v in dict.fromkeys(map(_plain, unknown)))
            raise ValueError(f"unknown item id(s) {shown[:300]}: not among the "
                             f"{self.num_items:,} items this model was trained on")
        return np.asarray(flat, dtype=np.int32).reshape(arr.shape)

    def item_ids(self, internal) -> np.ndarray:
        """The raw ids of internal item ids (any shape; int64 when every id is
        an integer, else object). 0 (padding) or an id above N raises."""
        arr = np.asarray(internal)
        if arr.size and (arr.min() < 1 or arr.max() > self.num_items):
            raise ValueError(f"internal item ids must be in 1..{self.num_items}, got "
                             f"[{arr.min()}, {arr.max()}]")
        table = np.asarray(self.items, dtype=np.int64 if self.id_type == "int" else object)
        return table[arr.astype(np.int64) - 1]

    def titles_of(self, internal) -> np.ndarray | None:
        """Titles of internal item ids (object array, None where missing), or
        None when the data has no titles."""
        if self.titles is None:
            return None
        table = np.asarray(self.titles, dtype=object)
        return table[np.asarray(internal).astype(np.int64) - 1]

    def titles_of_raw(self, raw_ids) -> np.ndarray | None:
        """Titles of raw item ids (see `titles_of`)."""
        return None if self.titles is None else self.titles_of(self.item_index(raw_ids))

    def user_index(self, raw_id) -> int:
        """The internal id of a raw user id; unknown ids raise `ValueError`."""
        if self.users is None:
            raise ValueError("this vocabulary has no user ids")
        key = str(_plain(raw_id))
        for u, value in enumerate(self.users, start=1):
            if str(value) == key:
                return u
        raise ValueError(f"unknown user id {_plain(raw_id)!r} (the data has "
                         f"{len(self.users):,} users)")

    def histories(self, raw_histories, max_length: int) -> np.ndarray:
        """int32 `[B, max_length]` left-padded internal histories from lists
        of raw item ids, oldest first (longer lists keep their newest
        `max_length` items). Empty lists and unknown ids raise."""
        if isinstance(raw_histories, (str, bytes)) or not hasattr(raw_histories, "__len__"):
            raise ValueError("histories must be a list of lists of item ids (one list per user)")
        out = np.zeros((len(raw_histories), max_length), np.int32)
        for row, items in enumerate(raw_histories):
            if isinstance(items, (str, bytes)) or not hasattr(items, "__len__"):
                raise ValueError(f"history {row} must be a list of item ids, got {items!r}")
            if len(items) == 0:
                raise ValueError(f"history {row} is empty; every user needs at least one item")
            ids = self.item_index(list(items)[-max_length:])
            out[row, max_length - len(ids):] = ids
        return out

    # --------------------------------------------------------------- storage

    def to_dict(self) -> dict:
        return {"format": FORMAT, "id_type": self.id_type, "num_items": self.num_items,
                "items": list(self.items),
                "users": None if self.users is None else list(self.users),
                "titles": None if self.titles is None else list(self.titles)}

    @classmethod
    def from_dict(cls, data: dict, source="the vocabulary") -> "Vocabulary":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{source} is not a rearec_keras vocabulary (format {FORMAT})")
        try:
            return cls(tuple(data["items"]),
                       None if data.get("users") is None else tuple(data["users"]),
                       None if data.get("titles") is None else tuple(data["titles"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{source} is malformed ({type(e).__name__}: {e})") from None

    def save(self, directory) -> Path:
        """Writes `directory/vocabulary.json` (atomically)."""
        from rearec_keras.utils.files import write_text_atomic

        path = Path(directory) / FILE
        write_text_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, directory) -> "Vocabulary | None":
        """The vocabulary saved in `directory`, or None when there is none."""
        path = Path(directory) / FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path} is unreadable ({e}); delete it and train or export "
                             "again to rewrite it") from None
        return cls.from_dict(data, source=str(path))
