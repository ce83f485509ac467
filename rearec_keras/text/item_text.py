"""Item text in the ReaRec paper's template, built from item metadata.

The text-based backbones (ReaUniSRec, ReaMoRec) describe each item by a short
text that a pretrained language model encodes once. Following the paper,
the text is a fixed header followed by one `key: value` line per metadata
field:

```
The item information is as follows:
title: Toy Story
year: 1995
genres: Animation, Children's, Comedy
```

Which fields are used per dataset is `TEXT_FIELDS`; the paper keeps title,
description and price for Amazon.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger("rearec_keras")

TEMPLATE_HEADER = "The item information is as follows:"

# Per dataset: the ordered `(key shown in the text, column of the items
# frame)` pairs. Columns are the ones our loaders write (see
# `rearec_keras.datasets`): MovieLens `title` (without the year), `year`
# (nullable int) and `genres` (tuple of str); Amazon Reviews 2023 `title`,
# `description` (paragraphs joined by spaces) and `price` (float, NaN when
# absent); Yelp `title` (the business name), `city`, `state` and
# `categories` (tuple of str).
TEXT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "ml-100k": (("title", "title"), ("year", "year"), ("genres", "genres")),
    "ml-1m": (("title", "title"), ("year", "year"), ("genres", "genres")),
    "amazon": (("title", "title"), ("description", "description"), ("price", "price")),
    "yelp": (
        ("name", "title"), ("city", "city"), ("state", "state"), ("categories", "categories"),
    ),
}


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return math.isnan(value)
    return False


def _format_value(value) -> str:
    """One metadata value as text; `""` means "leave the line out"."""
    if _is_missing(value):
        return ""
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        parts = (_format_value(v) for v in value)
        return ", ".join(p for p in parts if p)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        # Integral floats without ".0" (a float year: 1995), others with at
        # most two decimals (prices: 12.99, 12.5).
        return f"{float(value):.2f}".rstrip("0").rstrip(".")
    # Strings (and anything else): one line, whitespace runs collapsed, so
    # that a multi-line description cannot break the one-field-a-line shape.
    return " ".join(str(value).split())


def _check_fields(fields) -> tuple[tuple[str, str], ...]:
    """Normalise `fields` to `((key, column), ...)`."""
    if isinstance(fields, str):
        if fields not in TEXT_FIELDS:
            raise ValueError(
                f"Unknown text-field set {fields!r}; known: {sorted(TEXT_FIELDS)}. "
                "Or pass a sequence of (key, column) pairs or column names."
            )
        return TEXT_FIELDS[fields]
    if not isinstance(fields, Sequence) or len(fields) == 0:
        raise ValueError(
            "`fields` must be a non-empty sequence of (key, column) pairs or column "
            f"names, or one of {sorted(TEXT_FIELDS)}; got {fields!r}."
        )
    out = []
    for field in fields:
        if isinstance(field, str):
            out.append((field, field))
        elif (
            isinstance(field, Sequence)
            and len(field) == 2
            and all(isinstance(f, str) and f for f in field)
        ):
            out.append((field[0], field[1]))
        else:
            raise ValueError(
                f"Each field must be a column name or a (key, column) pair of strings; "
                f"got {field!r}."
            )
    return tuple(out)


def format_item_text(record, fields) -> str:
    """One item's text: the template header, then a `key: value` line per field.

    Lists and tuples are joined with `", "`, integral numbers print without
    a decimal point, other floats with at most two decimals, and strings
    have their whitespace runs collapsed to single spaces. A field whose
    value is missing (None, NaN, `pd.NA`, `""`, an empty tuple) or absent
    from `record` leaves its line out.

    Args:
        record: a mapping from column name to value (a dict, or a row of
            the items frame as a `pandas.Series`).
        fields: `(key, column)` pairs in display order, a sequence of column
            names (shown as their own keys), or a `TEXT_FIELDS` name such as
            `"ml-100k"`.

    Returns:
        The text, lines joined by `"\\n"`.

    Example:

    ```python
    format_item_text(
        {"title": "Toy Story", "year": 1995, "genres": ("Animation", "Comedy")},
        TEXT_FIELDS["ml-100k"],
    )
    # 'The item information is as follows:\\ntitle: Toy Story\\nyear: 1995\\n'
    # 'genres: Animation, Comedy'
    ```
    """
    fields = _check_fields(fields)
    if not isinstance(record, (Mapping, pd.Series)):
        raise TypeError(
            f"`record` must be a mapping of column -> value (dict or pandas.Series), "
            f"got {type(record).__name__}."
        )
    lines = [TEMPLATE_HEADER]
    for key, column in fields:
        text = _format_value(record.get(column)) if column in record else ""
        if text:
            lines.append(f"{key}: {text}")
    return "\n".join(lines)


def _resolve_fields(data, items: pd.DataFrame, fields) -> tuple[tuple[str, str], ...]:
    present = [str(c) for c in items.columns]
    if fields is not None:
        fields = _check_fields(fields)
        missing = [column for _, column in fields if column not in items.columns]
        if missing:
            raise ValueError(
                f"Item metadata has no column(s) {missing} requested by `fields`; the "
                f"columns present are {present}."
            )
        return fields
    name = str(getattr(data, "name", "") or "")
    hinted = next(
        (k for k in TEXT_FIELDS if name == k or name.startswith(k)), None
    )
    if hinted is not None and all(c in items.columns for _, c in TEXT_FIELDS[hinted]):
        return TEXT_FIELDS[hinted]
    matches = []
    for candidate in TEXT_FIELDS.values():
        if candidate not in matches and all(c in items.columns for _, c in candidate):
            matches.append(candidate)
    if len(matches) == 1:
        return matches[0]
    known = {k: [c for _, c in v] for k, v in TEXT_FIELDS.items()}
    reason = (
        "matches more than one known set of text fields"
        if matches
        else "matches none of the known sets of text fields"
    )
    raise ValueError(
        f"The item metadata (columns {present}) {reason} ({known}); pass "
        "`fields=` explicitly, e.g. fields=[('title', 'title'), ('year', 'year')] "
        "or fields='ml-100k'."
    )


def item_texts(data, fields=None) -> list[str]:
    """The text of every item `1..num_items`, in item-id order.

    Args:
        data: a `rearec_keras.data.Split` or an indexed `InteractionDataset`
            (after `rearec_keras.data.index_ids`): anything with `items`, a
            DataFrame keyed by `item_id` in `1..num_items`, and
            `num_items`.
        fields: which metadata to show, as for `format_item_text`. `None`
            picks the `TEXT_FIELDS` entry whose columns are all in the
            items frame (the dataset's `name`, e.g. `"ml-1m"` or
            `"amazon2023-All_Beauty"`, breaks ties).

    Returns:
        A list of `num_items` strings: index `i - 1` is item `i`. Items
        without a metadata row get the header alone (a warning on the
        `"rearec_keras"` logger counts them); no item is ever dropped.

    Raises:
        ValueError: `data.items` is None (load the dataset with its
            metadata), the dataset is not indexed, a requested column is
            missing (named, with the columns present), `fields=None` cannot
            tell which fields to use, or the metadata holds item ids outside
            `1..num_items`.

    Example:

    ```python
    import rearec_keras
    from rearec_keras import data
    from rearec_keras.text import item_texts

    split = data.leave_one_out(rearec_keras.load_movielens("ml-100k"))
    item_texts(split)[0]
    # "The item information is as follows:\\ntitle: Toy Story\\nyear: 1995\\n"
    # "genres: Animation, Children's, Comedy"
    ```
    """
    items = getattr(data, "items", None)
    if not hasattr(data, "num_items"):
        raise TypeError(
            "`data` must be a rearec_keras.data.Split or an indexed InteractionDataset, "
            f"got {type(data).__name__}."
        )
    if items is None:
        raise ValueError(
            f"{getattr(data, 'name', type(data).__name__)} has no item metadata "
            "(`items` is None): item texts need it. Load the dataset with its metadata "
            "(e.g. metadata=True for the Amazon loader, the business file for Yelp, "
            "u.item / movies.dat for MovieLens)."
        )
    if getattr(data, "is_indexed", True) is False:
        raise ValueError(
            f"{getattr(data, 'name', 'The dataset')} is not indexed: item ids must be "
            "1..num_items. Call rearec_keras.data.index_ids(dataset) (or split it) first."
        )
    if not isinstance(items, pd.DataFrame) or "item_id" not in items.columns:
        raise ValueError("`data.items` must be a DataFrame with an 'item_id' column.")
    fields = _resolve_fields(data, items, fields)
    num_items = int(data.num_items)
    ids = pd.to_numeric(items["item_id"], errors="coerce").to_numpy()
    bad = ~((ids >= 1) & (ids <= num_items) & (ids == np.floor(ids)))
    if bad.any():
        raise ValueError(
            f"Item metadata has item ids outside 1..{num_items} (e.g. "
            f"{items['item_id'][bad].iloc[0]!r}); is it keyed by the indexed ids?"
        )
    texts: list[str | None] = [None] * num_items
    columns = list(dict.fromkeys(column for _, column in fields))
    for item_id, row in zip(ids.astype(np.int64), items[columns].to_dict("records")):
        texts[item_id - 1] = format_item_text(row, fields)
    without = [i + 1 for i, t in enumerate(texts) if t is None]
    if without:
        shown = ", ".join(str(i) for i in without[:5])
        logger.warning(
            "%s of %s items have no metadata row and get the header-only text "
            "(item ids %s%s).",
            f"{len(without):,}", f"{num_items:,}", shown, ", ..." if len(without) > 5 else "",
        )
    return [TEMPLATE_HEADER if t is None else t for t in texts]
