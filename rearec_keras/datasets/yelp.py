"""Loader for the Yelp Open Dataset (reviews as interactions).

Format facts checked against public sources (copies of public READMEs and
code that quote the files' first lines):

- The download holds JSON-lines files named
  `yelp_academic_dataset_review.json`, `yelp_academic_dataset_business.json`
  (plus `_user`, `_checkin`, `_tip`), one object per line; the reviews file
  is the large one (about 7 million reviews, several GB). Source: the Yelp
  Open Dataset page https://business.yelp.com/data/resources/open-dataset/
  as described in public project READMEs.
- A review line looks like `{"review_id": "KU_O5udG6zpxOg-VcAEodg",
  "user_id": "mh_-eMZ6K5RLWhZyISBhwA", "business_id":
  "XQfwVwDr-v0ZS3_CbbE5Xw", "stars": 3.0, "useful": 0, "funny": 0,
  "cool": 0, "text": "...", "date": "2018-07-07 22:09:11"}`: `stars` is a
  number and `date` is `YYYY-MM-DD HH:MM:SS` without a time zone.
- A business line looks like `{"business_id": "Pns2l4eNsfO8kk83dixA6A",
  "name": "Abby Rappoport, LAC, CMQ", "address": "...", "city": "Santa
  Barbara", "state": "CA", "postal_code": "93101", "latitude": ...,
  "longitude": ..., "stars": 5.0, "review_count": 7, "is_open": 0,
  "attributes": {...}, "categories": "Doctors, Traditional Chinese Medicine,
  ...", "hours": null}`: `categories` is one comma-and-space separated
  string, or null.

Assumed, not verified: the shorter names `review.json` / `business.json`
(used by some mirrors) hold the same content; older releases that wrote
dates as `YYYY-MM-DD` are read as midnight.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from rearec_keras.datasets._jsonl import keyed_json_objects
from rearec_keras.datasets._jsonl import text
from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.validation import DataError

logger = logging.getLogger("rearec_keras")

REVIEW_FILES = ("yelp_academic_dataset_review.json", "review.json")
BUSINESS_FILES = ("yelp_academic_dataset_business.json", "business.json")
_REVIEW_FIELDS = ("user_id", "business_id", "stars", "date")
_SOURCE_HINT = (
    "Download the Yelp Open Dataset from "
    "https://business.yelp.com/data/resources/open-dataset/ and extract the "
    "JSON files into this directory."
)
# Bytes per block of the streaming JSON reader: one block is parsed at a
# time, so memory stays bounded while the 5 GB reviews file is read.
_BLOCK_SIZE = 64 << 20


def load_yelp(
    path: str | os.PathLike,
    *,
    metadata: bool = True,
    max_reviews: int | None = None,
) -> InteractionDataset:
    """Load the Yelp Open Dataset reviews as user-business interactions.

    Streams `yelp_academic_dataset_review.json` (or `review.json`) from
    `path` block by block, keeping only `user_id`, `business_id`, `stars`
    and `date` (the review text is skipped by the parser and never held in
    memory). When `metadata=True`, business names and locations come from
    `yelp_academic_dataset_business.json` (or `business.json`). Every review
    becomes one interaction, repeated (user, business) pairs included;
    nothing is dropped, and a malformed line raises.

    Args:
        path: directory holding the extracted Yelp JSON files.
        metadata: whether to read the business file. When it is `True` but
            the file is missing, a warning is logged and `items` is `None`.
        max_reviews: if given, read only the first `max_reviews` reviews in
            file order (handy for quick experiments); `None` reads all.

    Returns:
        An `InteractionDataset` named `"yelp"` with `timestamp_unit="s"`.
        `interactions` has the columns `user_id` (str), `item_id` (str, the
        `business_id`), `timestamp` (int64 Unix seconds; the dataset's
        local date-times are read as if they were UTC) and `rating`
        (float64, the review's `stars`). `items` (or `None`) has `item_id`,
        `title` (the business `name`, `""` when absent), `city`, `state`
        (str, `""` when absent) and `categories` (a tuple of str, split on
        commas; `()` when null). It holds only the businesses that occur
        in the loaded reviews.

    Raises:
        FileNotFoundError: `path` does not exist, or has no review file
            (the message names the expected files and where to get them).
        NotADirectoryError: `path` is a file.
        ValueError: `max_reviews` is not a positive integer.
        DataError: a line is not valid JSON or not an object, a review lacks
            `user_id`, `business_id`, `stars` or `date` or has a value of the
            wrong type, a date cannot be parsed, the reviews file is empty,
            or the business file lists a business twice or has a line
            without `business_id`. The message names the file and line.

    Example:

    ```python
    from rearec_keras.datasets.yelp import load_yelp

    data = load_yelp("data/yelp", max_reviews=100_000)
    data.interactions.head(1)
    #                   user_id                 item_id   timestamp  rating
    # 0  mh_-eMZ6K5RLWhZyISBhwA  XQfwVwDr-v0ZS3_CbbE5Xw  1530990551     3.0
    data.items.head(1)  # item_id, title, city, state, categories
    ```
    """
    if max_reviews is not None:
        if (
            isinstance(max_reviews, bool)
            or not isinstance(max_reviews, (int, np.integer))
            or max_reviews < 1
        ):
            raise ValueError(
                f"`max_reviews` must be a positive integer or None, got "
                f"{max_reviews!r}."
            )
        max_reviews = int(max_reviews)
    directory = Path(path).expanduser()
    if not directory.exists():
        raise FileNotFoundError(
            f"Yelp directory not found: {directory}. {_SOURCE_HINT}"
        )
    if not directory.is_dir():
        raise NotADirectoryError(
            f"{directory} is a file; pass the directory that holds "
            f"'{REVIEW_FILES[0]}' and '{BUSINESS_FILES[0]}'."
        )
    review_file = _find_file(directory, REVIEW_FILES)
    if review_file is None:
        raise FileNotFoundError(
            f"No Yelp review file in {directory}: expected '{REVIEW_FILES[0]}' "
            f"(or '{REVIEW_FILES[1]}'). {_SOURCE_HINT}"
        )

    interactions = _read_reviews(review_file, max_reviews)
    logger.info("Read %s reviews from %s", f"{len(interactions):,}", review_file)
    if max_reviews is not None and len(interactions) == max_reviews:
        logger.info(
            "Stopped after max_reviews=%s reviews; later reviews in %s were "
            "not read.",
            f"{max_reviews:,}",
            review_file,
        )

    items = None
    if metadata:
        business_file = _find_file(directory, BUSINESS_FILES)
        if business_file is None:
            logger.warning(
                "No Yelp business file ('%s' or '%s') in %s; loading "
                "interactions only (items=None).",
                BUSINESS_FILES[0],
                BUSINESS_FILES[1],
                directory,
            )
        else:
            items = _read_businesses(business_file, set(interactions["item_id"]))

    return InteractionDataset(
        interactions=interactions, items=items, name="yelp", timestamp_unit="s"
    )


def _find_file(directory: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _read_reviews(file: Path, max_reviews: int | None) -> pd.DataFrame:
    """Stream the review JSON lines, keeping the four columns we need."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    schema = pa.schema(
        [
            ("user_id", pa.string()),
            ("business_id", pa.string()),
            ("stars", pa.float64()),
            ("date", pa.string()),
        ]
    )
    parse_options = pa_json.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="ignore"
    )
    read_options = pa_json.ReadOptions(block_size=_BLOCK_SIZE)
    chunks = []
    done = 0
    try:
        reader = pa_json.open_json(
            file, read_options=read_options, parse_options=parse_options
        )
        for batch in reader:
            if max_reviews is not None and done + batch.num_rows > max_reviews:
                batch = batch.slice(0, max_reviews - done)
            chunks.append(_review_chunk(file, batch, first_record=done))
            done += batch.num_rows
            if max_reviews is not None and done >= max_reviews:
                break
    except pa.ArrowInvalid as err:
        if "Empty JSON" in str(err):
            raise DataError(f"{file}: the file holds no reviews.") from None
        # Arrow's message has no file line; find the offending line ourselves.
        problem = _first_bad_review_line(file)
        if problem is not None:
            raise DataError(f"{file}, {problem}") from None
        raise DataError(f"{file}: could not be parsed ({err}).") from err
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: could not be read ({err}).") from err
    if not chunks:
        raise DataError(f"{file}: the file holds no reviews.")
    return pd.concat(chunks, ignore_index=True)


def _review_chunk(file: Path, batch, first_record: int) -> pd.DataFrame:
    """Check one block of reviews and convert it to our columns."""
    columns = {}
    for field in _REVIEW_FIELDS:
        values = batch.column(field).to_pandas()
        missing = values.isna().to_numpy()
        if field in ("user_id", "business_id"):
            missing = missing | (values.fillna("") == "").to_numpy()
        if missing.any():
            record = first_record + int(np.flatnonzero(missing)[0])
            raise DataError(
                f"{file}, line {_line_of_record(file, record)}: the review has "
                f"no (or an empty) '{field}' ({missing.sum():,} such review(s) "
                "in this block)."
            )
        columns[field] = values

    dates = pd.to_datetime(columns["date"], format="ISO8601", errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{file}, line {_line_of_record(file, first_record + at)}: 'date' "
            f"{columns['date'].iloc[at]!r} is not a date like "
            "'2018-07-07 22:09:11'."
        )
    if dates.dt.tz is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return pd.DataFrame(
        {
            "user_id": columns["user_id"].astype(object).to_numpy(),
            "item_id": columns["business_id"].astype(object).to_numpy(),
            "timestamp": seconds.to_numpy(dtype=np.int64),
            "rating": columns["stars"].to_numpy(dtype=np.float64),
        }
    )


def _line_of_record(file: Path, record: int) -> int:
    """1-based line number of the `record`-th (0-based) non-blank line."""
    seen = -1
    with open(file, encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if line.strip():
                seen += 1
                if seen == record:
                    return line_no
    return -1


def _first_bad_review_line(file: Path) -> str | None:
    """Describe the first line that is not a well-formed review, if any.

    Only called after the fast reader failed, to name the line.
    """
    number_types = (int, float)
    with open(file, encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                return (
                    f"line {line_no}: not valid JSON ({err.msg} at column {err.colno})."
                )
            if not isinstance(record, dict):
                return (
                    f"line {line_no}: expected a JSON object, got "
                    f"{type(record).__name__}."
                )
            for field in _REVIEW_FIELDS:
                value = record.get(field)
                if value is None:
                    continue  # reported with its line by _review_chunk
                if field == "stars":
                    ok = isinstance(value, number_types) and not isinstance(value, bool)
                    expected = "a number"
                else:
                    ok = isinstance(value, str)
                    expected = "a string"
                if not ok:
                    return (
                        f"line {line_no}: '{field}' is {value!r}, expected "
                        f"{expected}."
                    )
    return None


def _read_businesses(file: Path, referenced: set) -> pd.DataFrame:
    """Read name, city, state and categories of the referenced businesses."""
    rows = []
    skipped = 0
    for _, business, record in keyed_json_objects(file, "business_id", "business"):
        if business not in referenced:
            skipped += 1
            continue
        rows.append(
            {
                "item_id": business,
                "title": text(record.get("name")),
                "city": text(record.get("city")),
                "state": text(record.get("state")),
                "categories": _split_categories(record.get("categories")),
            }
        )
    names = ["item_id", "title", "city", "state", "categories"]
    items = pd.DataFrame(
        {n: pd.Series([row[n] for row in rows], dtype=object) for n in names}
    )
    logger.info(
        "Read %s businesses from %s; skipped %s not in the loaded reviews; "
        "%s reviewed businesses have no business line.",
        f"{len(rows):,}",
        file,
        f"{skipped:,}",
        f"{len(referenced) - len(rows):,}",
    )
    return items


def _split_categories(value) -> tuple[str, ...]:
    """`"Doctors, Health & Medical"` -> `("Doctors", "Health & Medical")`."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):  # some old releases used arrays
        return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
    parts = (part.strip() for part in str(value).split(","))
    return tuple(part for part in parts if part)
