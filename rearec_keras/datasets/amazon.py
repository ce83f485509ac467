"""Loader for the Amazon Reviews 2023 sequential-recommendation benchmark.

Amazon Reviews 2023 is the McAuley lab's review collection (May 1996 to
Sep 2023). Its authors publish pre-split benchmark files; this module reads
the `timestamp_w_his` variant: interactions split by absolute timestamps,
and every row carries the user's earlier items.

Format facts checked against public sources (stored copies of the pages):

- Directory layout `benchmark/{0core,5core}/timestamp_w_his/` with one file
  per split, `{category}.train.csv`, `{category}.valid.csv`,
  `{category}.test.csv`: the Hugging Face repository
  `McAuley-Lab/Amazon-Reviews-2023` (file tree) and the split script
  `benchmark_scripts/timestamp_split.py` of github.com/hyp1231/AmazonReviews2023.
- Row content, from that script: for each user, interactions are sorted by
  timestamp, repeated items are dropped (first kept), and each row is
  written as `user_id,parent_asin,rating,timestamp,history`, where
  `history` is the space-joined `parent_asin`s of all the user's earlier
  interactions, oldest first (empty for the first one). The split is by
  absolute time: train `< 1628643414042`, valid `< 1658002729837`, test
  the rest, so a user's history in `valid`/`test` also covers the rows in
  earlier splits.
- Header: the script writes no header; a header line was added to the
  published files later (Hugging Face commit "Add column head", Feb 25
  2024). The column names `user_id`, `parent_asin` and `history` are
  confirmed by `seq_rec_results/dataset/process_amazon_2023.py` (same
  GitHub repository), which reads them from the `timestamp_w_his` data;
  `rating` and `timestamp` follow the header of the `rating_only` files
  (`user_id,parent_asin,rating,timestamp`). Files with and without the
  header line are both accepted here.
- Timestamps are Unix epoch **milliseconds** and ratings are floats such
  as `3.0` (sample rows in `benchmark_scripts/README.md`, e.g.
  `AGKASBHYZPGTEPO6LWZPVJWB2BVA,B006GBITXC,3.0,1452647382000`).
- Item metadata is JSON lines, `raw/meta_categories/meta_{category}.jsonl`
  on Hugging Face (dataset loading script `Amazon-Review-2023.py`), one
  object per item keyed by `parent_asin`, with `main_category` (str),
  `title` (str), `description` (list of str), `price`, `categories`
  (list of str) and more (`features`, `images`, `store`, `details`, ...;
  Hugging Face dataset card schema).

Assumed, not verified: `price` is a JSON number or null in the raw files
(the dataset card declares it a string, so strings such as `"$12.99"` or
`"None"` are also handled); the gzip variants (`.csv.gz`, `.jsonl.gz`) are
the same content compressed.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from rearec_keras.datasets._jsonl import keyed_json_objects
from rearec_keras.datasets._jsonl import text
from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.validation import DataError

logger = logging.getLogger("rearec_keras")

SPLITS = ("train", "valid", "test")
SPLIT_COLUMNS = ("user_id", "parent_asin", "rating", "timestamp", "history")

_SOURCE_HINT = (
    "The files come from the Amazon Reviews 2023 benchmark "
    "(https://amazon-reviews-2023.github.io/, or the Hugging Face dataset "
    "McAuley-Lab/Amazon-Reviews-2023: benchmark/5core/timestamp_w_his/ or "
    "benchmark/0core/timestamp_w_his/ for the splits, "
    "raw/meta_categories/ for the metadata)."
)


def load_amazon_reviews_2023(
    path: str | os.PathLike,
    category: str,
    *,
    metadata: bool = True,
    splits: Iterable[str] = SPLITS,
) -> InteractionDataset:
    """Load one category of the Amazon Reviews 2023 `timestamp_w_his` splits.

    Reads `{category}.train.csv`, `{category}.valid.csv` and
    `{category}.test.csv` (or the same names ending in `.csv.gz`) from
    `path`, and, when present, the item metadata `meta_{category}.jsonl`
    (or `.jsonl.gz`) from the same directory. Ids stay the dataset's own
    strings (user ids and `parent_asin`s); map them to integers later with
    `rearec_keras.data.index_ids`. Nothing is dropped: every row of every
    requested split file is returned, and a malformed row raises.

    Args:
        path: directory holding the split files (and optionally the
            metadata file).
        category: the category prefix of the file names, e.g.
            `"All_Beauty"`, `"Video_Games"`.
        metadata: whether to read `meta_{category}.jsonl[.gz]`. When it is
            `True` but the file is missing, a warning is logged and
            `items` is `None`.
        splits: which split files to read, any of `"train"`, `"valid"`,
            `"test"` (a single string is accepted). Rows are returned in
            this order, each file in file order.

    Returns:
        An `InteractionDataset` named `"amazon2023-{category}"` with
        `timestamp_unit="ms"`. `interactions` has the columns
        `user_id` (str), `item_id` (str, the `parent_asin`), `timestamp`
        (int64, Unix milliseconds), `rating` (float64), `split` (str: the
        file the row came from) and `history` (a tuple of item-id strings,
        oldest first; `()` when the history is empty). `items` (or `None`)
        has `item_id`, `title` (str, `""` when absent), `description` (the
        list of description strings joined by single spaces), `price`
        (float64, NaN when absent or not a number) and, when the file has
        them, `main_category` (str or None) and `categories` (a tuple of
        str). It holds only the items that occur in the loaded rows (as
        targets or in histories); metadata lines for other items are
        skipped (the count is logged).

    Raises:
        FileNotFoundError: `path` does not exist, or a requested split file
            is missing (the message names the file and where to get it).
        NotADirectoryError: `path` is a file.
        ValueError: an unknown or repeated split name, or an empty
            `category`.
        DataError: a split file is empty, lacks a column (the message names
            the file and the column), has a malformed row (wrong number of
            fields, empty id, non-numeric rating, non-integer timestamp: the
            message names the file and line), or cannot be decoded; the
            metadata file has a line that is not valid JSON, not an object,
            or has no `parent_asin` (file and line named), or lists an item
            twice.

    Example:

    ```python
    from rearec_keras.datasets.amazon import load_amazon_reviews_2023

    data = load_amazon_reviews_2023("data/amazon2023/5core", "All_Beauty")
    data.interactions.head()
    #          user_id     item_id      timestamp  rating  split  history
    # 0  AGKHLEW2S...  B081TJ8YS3  1588615855070     4.0  train  ()
    train = data.interactions[data.interactions["split"] == "train"]
    ```
    """
    splits = _check_splits(splits)
    if not isinstance(category, str) or not category.strip():
        raise ValueError(
            f"`category` must be a non-empty string such as 'All_Beauty', got "
            f"{category!r}."
        )
    directory = Path(path).expanduser()
    if not directory.exists():
        raise FileNotFoundError(
            f"Amazon Reviews 2023 directory not found: {directory}. {_SOURCE_HINT}"
        )
    if not directory.is_dir():
        raise NotADirectoryError(
            f"{directory} is a file; pass the directory that holds "
            f"'{category}.train.csv', '{category}.valid.csv' and "
            f"'{category}.test.csv'."
        )

    frames = []
    for split in splits:
        file = _find_file(directory, f"{category}.{split}", (".csv", ".csv.gz"))
        if file is None:
            raise FileNotFoundError(
                f"Missing split file '{category}.{split}.csv' (or "
                f"'{category}.{split}.csv.gz') in {directory}."
                f"{_categories_hint(directory, split)} {_SOURCE_HINT}"
            )
        frame = _read_split_file(file, split)
        logger.info("Read %s rows from %s", f"{len(frame):,}", file)
        frames.append(frame)
    interactions = pd.concat(frames, ignore_index=True)
    if interactions.empty:
        logger.warning(
            "The %s split files of %s in %s hold no rows.",
            "/".join(splits),
            category,
            directory,
        )

    items = None
    if metadata:
        meta_file = _find_file(directory, f"meta_{category}", (".jsonl", ".jsonl.gz"))
        if meta_file is None:
            logger.warning(
                "No item metadata file 'meta_%s.jsonl' (or .jsonl.gz) in %s; "
                "loading interactions only (items=None).",
                category,
                directory,
            )
        else:
            referenced = set(interactions["item_id"])
            referenced.update(item for h in interactions["history"] for item in h)
            items = _read_metadata(meta_file, referenced)

    return InteractionDataset(
        interactions=interactions,
        items=items,
        name=f"amazon2023-{category}",
        timestamp_unit="ms",
    )


def _check_splits(splits) -> tuple[str, ...]:
    if isinstance(splits, str):
        splits = (splits,)
    splits = tuple(splits)
    if not splits:
        raise ValueError(f"`splits` is empty; choose from {list(SPLITS)}.")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"Unknown split(s) {unknown}; choose from {list(SPLITS)}.")
    repeated = sorted({s for s in splits if splits.count(s) > 1})
    if repeated:
        raise ValueError(f"Split(s) {repeated} requested more than once.")
    return splits


def _find_file(directory: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        candidate = directory / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _categories_hint(directory: Path, split: str) -> str:
    """Name the categories whose split files are in `directory`, if any."""
    found = set()
    for suffix in (".csv", ".csv.gz"):
        tail = f".{split}{suffix}"
        for entry in directory.glob(f"*{tail}"):
            found.add(entry.name[: -len(tail)])
    if not found:
        return ""
    shown = ", ".join(repr(c) for c in sorted(found)[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return f" Categories with a '{split}' file there: {shown}{more}."


def _read_split_file(file: Path, split: str) -> pd.DataFrame:
    """Parse one `timestamp_w_his` CSV into our interaction columns."""
    try:
        # header=None so that pandas sizes rows from the first line and
        # reports extra fields with their line number; blank lines are kept
        # so that frame index + 1 is the file's line number.
        raw = pd.read_csv(
            file,
            header=None,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            index_col=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{file}: the file is empty; expected the header "
            f"'{','.join(SPLIT_COLUMNS)}' and one row per interaction."
        ) from None
    except pd.errors.ParserError as err:
        raise DataError(f"{file}: malformed row: {err}") from err
    except (UnicodeDecodeError, EOFError, zlib.error, OSError) as err:
        raise DataError(f"{file}: could not be read ({err}).") from err

    first = [value.strip() for value in raw.iloc[0]]
    if "user_id" in first or "parent_asin" in first:
        missing = [c for c in SPLIT_COLUMNS if c not in first]
        if missing:
            hint = ""
            if missing == ["history"]:
                hint = (
                    " This looks like a split without histories; use the "
                    "'timestamp_w_his' files."
                )
            raise DataError(
                f"{file}: missing column(s) {missing}; the header has "
                f"{first}.{hint}"
            )
        repeated = sorted({c for c in first if first.count(c) > 1})
        if repeated:
            raise DataError(
                f"{file}: column(s) {repeated} appear more than once in the header."
            )
        raw.columns = first
        body = raw.iloc[1:]
    elif raw.shape[1] == len(SPLIT_COLUMNS) and first[3].isdigit():
        # Files downloaded before the header was added (Feb 2024).
        raw.columns = list(SPLIT_COLUMNS)
        body = raw
    else:
        raise DataError(
            f"{file}: the first line {','.join(first)!r} is neither the header "
            f"'{','.join(SPLIT_COLUMNS)}' nor a data row of those 5 fields."
        )

    blank = (body == "").all(axis=1).to_numpy()
    if blank.any():
        body = body[~blank]
    lines = body.index.to_numpy() + 1  # 1-based line numbers in the file

    user = body["user_id"].to_numpy(dtype=object)
    item = body["parent_asin"].to_numpy(dtype=object)
    for column, values in (("user_id", user), ("parent_asin", item)):
        empty = values == ""
        if empty.any():
            line = lines[np.flatnonzero(empty)[0]]
            raise DataError(
                f"{file}, line {line}: malformed row, empty '{column}' "
                f"({empty.sum():,} such row(s))."
            )

    rating = pd.to_numeric(body["rating"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(rating)
    if bad.any():
        at = np.flatnonzero(bad)[0]
        raise DataError(
            f"{file}, line {lines[at]}: malformed row, 'rating' is "
            f"{body['rating'].iloc[at]!r}, not a number "
            f"({bad.sum():,} such row(s))."
        )

    stamp_text = body["timestamp"].str.strip()
    is_int = stamp_text.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool)
    if not is_int.all():
        at = np.flatnonzero(~is_int)[0]
        raise DataError(
            f"{file}, line {lines[at]}: malformed row, 'timestamp' is "
            f"{stamp_text.iloc[at]!r}, not an integer number of milliseconds "
            f"({(~is_int).sum():,} such row(s))."
        )
    timestamp = pd.to_numeric(stamp_text).to_numpy(dtype=np.int64)

    history = pd.Series(
        [tuple(h.split()) if h else () for h in body["history"].to_numpy(dtype=object)],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "user_id": pd.Series(user, dtype=object),
            "item_id": pd.Series(item, dtype=object),
            "timestamp": pd.Series(timestamp, dtype=np.int64),
            "rating": pd.Series(rating, dtype=np.float64),
            "split": pd.Series([split] * len(user), dtype=object),
            "history": history,
        }
    )


def _read_metadata(file: Path, referenced: set) -> pd.DataFrame:
    """Read the metadata JSON lines of the items in `referenced`."""
    rows: dict[str, dict] = {}
    has_main_category = has_categories = False
    skipped = unparsable_prices = 0
    for _, asin, record in keyed_json_objects(file, "parent_asin", "item"):
        has_main_category |= "main_category" in record
        has_categories |= "categories" in record
        if asin not in referenced:
            skipped += 1
            continue
        price = _parse_price(record.get("price"))
        if math.isnan(price) and _has_price_text(record.get("price")):
            unparsable_prices += 1
        rows[asin] = {
            "item_id": asin,
            "title": text(record.get("title")),
            "description": _join_text(record.get("description")),
            "price": price,
            "main_category": record.get("main_category"),
            "categories": _as_tuple(record.get("categories")),
        }

    columns = ["item_id", "title", "description", "price"]
    if has_main_category:
        columns.append("main_category")
    if has_categories:
        columns.append("categories")
    records = list(rows.values())
    items = pd.DataFrame(
        {c: pd.Series([r[c] for r in records], dtype=object) for c in columns}
    )
    items["price"] = items["price"].astype(np.float64)

    no_meta = len(referenced) - len(rows)
    logger.info(
        "Read metadata for %s items from %s; skipped %s lines for items not "
        "in the loaded rows; %s loaded items have no metadata line.",
        f"{len(rows):,}",
        file,
        f"{skipped:,}",
        f"{no_meta:,}",
    )
    if unparsable_prices:
        logger.info(
            "%s: %s price values are not numbers (e.g. text) and became NaN.",
            file,
            f"{unparsable_prices:,}",
        )
    return items


def _join_text(value) -> str:
    """A description (a list of paragraphs, or one string) as one string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        parts = [text(part) for part in value if part is not None]
        return " ".join(part for part in parts if part)
    return str(value)


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


def _parse_price(value) -> float:
    """A price as float: numbers as is, `"$1,299.99"` -> 1299.99, else NaN."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        if text.startswith("$"):
            text = text[1:].strip()
        try:
            number = float(text)
        except ValueError:
            return math.nan
    else:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _has_price_text(value) -> bool:
    """Whether a price is given at all (so a NaN result means unparsable)."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "none", "null", "nan")
    return True
