"""Load interactions from any CSV, TSV, text or Parquet file, or a DataFrame.

`load_interactions` is the entry point for data sets that have no dedicated
loader: point it at a file, say which of its columns are the user, the
item, the time and (optionally) the rating, and it returns an
`InteractionDataset`.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.validation import DataError

logger = logging.getLogger("rearec_keras")

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")
FORMATS = ("csv", "tsv", "txt", "parquet")

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")
_DEFAULT_SEPARATORS = {"csv": ",", "tsv": "\t", "txt": None}


def load_interactions(
    path_or_frame,
    *,
    columns: Mapping[str, str] | Sequence[str | None] | None = None,
    items=None,
    item_columns: Mapping[str, str] | None = None,
    name: str | None = None,
    timestamp_unit: str | None = None,
    sep: str | None = None,
    format: str | None = None,
) -> InteractionDataset:
    """Load user-item interactions from a table file or a DataFrame.

    The table needs one column each for the user, the item and the time,
    and may have a rating column. `columns` says which is which; only these
    four columns are kept. Timestamps that are date-time strings (such as
    `"2020-01-02 10:00"`) or datetime columns become Unix seconds; numeric
    timestamps are kept as they are.

    Text files are read with a header row unless `columns` is a list (see
    below). The format comes from the file name (`.csv`, `.tsv`, `.txt`,
    `.parquet`, `.pq`, each text format optionally compressed, e.g.
    `.csv.gz`) or from `format`.

    Args:
        path_or_frame: a file path, or a `pandas.DataFrame`.
        columns: how the table's columns map to ours. Either a dict from
            the table's column names to `"user_id"`, `"item_id"`,
            `"timestamp"` and `"rating"` (e.g.
            `{"userId": "user_id", "movieId": "item_id",
            "timestamp": "timestamp", "rating": "rating"}`), or, for files
            without a header row, a list giving each column's name in
            order (`None` skips a column), e.g.
            `["user_id", "item_id", "rating", "timestamp"]`. Columns that
            already have one of our names are kept without being listed;
            other unmapped columns are dropped. When `None`, the table must
            already use our names.
        items: optional item metadata, a file path or a DataFrame, read
            like `path_or_frame` (format from its own file name; text files
            need a header row). All its columns are kept.
        item_columns: optional dict renaming the metadata's columns, e.g.
            `{"movieId": "item_id", "name": "title"}`; after renaming it
            must have an `item_id` column.
        name: the dataset's name; defaults to the file name without
            extensions, or `"interactions"` for a DataFrame.
        timestamp_unit: `"s"` or `"ms"` when numeric timestamps are Unix
            epochs, `None` (default) when they are only an order. Timestamps
            parsed from dates are always seconds, so only `None` or `"s"`
            are allowed then.
        sep: the field separator of a text file; defaults to `","` for
            `.csv`, a tab for `.tsv`, and a guess from the first lines for
            `.txt`. Multi-character separators such as `"::"` work.
        format: `"csv"`, `"tsv"`, `"txt"` or `"parquet"`, overriding the
            file name.

    Returns:
        An `InteractionDataset` whose `interactions` has `user_id`,
        `item_id`, `timestamp` and, when mapped, `rating`, and whose `items`
        is the metadata (or `None`).

    Raises:
        FileNotFoundError: a path does not exist.
        IsADirectoryError: a path is a directory.
        ValueError: an unknown `format` or `timestamp_unit`, a mapping to a
            name that is not one of ours, two columns mapped to one name, or
            `item_columns` without `items`.
        DataError: the extension is not a known format; the file is empty,
            corrupt or cannot be parsed (the message names the file and
            keeps the parser's message); the mapping names a column the
            table does not have (the message lists the available ones); a
            list of names does not match the number of columns; a required
            column is missing after mapping; a timestamp cannot be parsed;
            or any check of `InteractionDataset` fails.

    Example:

    ```python
    from rearec_keras.datasets.tabular import load_interactions

    data = load_interactions(
        "ml-latest-small/ratings.csv",
        columns={
            "userId": "user_id",
            "movieId": "item_id",
            "rating": "rating",
            "timestamp": "timestamp",
        },
        items="ml-latest-small/movies.csv",
        item_columns={"movieId": "item_id"},
        timestamp_unit="s",
    )
    # A header-less tab-separated file (MovieLens 100K's u.data):
    data = load_interactions(
        "ml-100k/u.data",
        format="tsv",
        columns=["user_id", "item_id", "rating", "timestamp"],
        timestamp_unit="s",
    )
    ```
    """
    if timestamp_unit not in (None, "s", "ms"):
        raise ValueError(
            f"`timestamp_unit` must be 's', 'ms' or None, got {timestamp_unit!r}."
        )
    if format is not None and format not in FORMATS:
        raise ValueError(f"Unknown `format` {format!r}; choose from {list(FORMATS)}.")
    if item_columns is not None and items is None:
        raise ValueError("`item_columns` was given but `items` is None.")
    positional = _check_columns_argument(columns)

    frame, source, first_line = _load_table(
        path_or_frame, sep=sep, format=format, header=not positional
    )
    if name is None:
        name = (
            "interactions"
            if isinstance(path_or_frame, pd.DataFrame)
            else _stem(Path(path_or_frame))
        )

    if positional:
        frame = _name_positionally(frame, list(columns), source)
    elif columns is not None:
        frame = _rename(frame, dict(columns), source, allowed=INTERACTION_COLUMNS)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing required column(s) {missing} after applying the "
            f"column mapping; the table has {list(map(str, frame.columns))}. Map "
            "them with columns={'<their name>': 'user_id', ...}."
        )
    dropped = [str(c) for c in frame.columns if c not in INTERACTION_COLUMNS]
    if dropped:
        logger.debug("%s: not keeping the unmapped column(s) %s", source, dropped)
    frame = frame[[c for c in INTERACTION_COLUMNS if c in frame.columns]].copy()

    frame["timestamp"], parsed_dates = _convert_timestamps(
        frame["timestamp"], source, first_line
    )
    if parsed_dates:
        if timestamp_unit == "ms":
            raise ValueError(
                f"{source}: the timestamps are dates and were converted to Unix "
                "seconds, but timestamp_unit='ms' was passed; pass 's' or None."
            )
        timestamp_unit = "s"

    item_frame = None
    if items is not None:
        item_frame, item_source, _ = _load_table(
            items, sep=None, format=None, header=True
        )
        if item_columns is not None:
            item_frame = _rename(
                item_frame, dict(item_columns), item_source, allowed=None
            )
        if "item_id" not in item_frame.columns:
            raise DataError(
                f"{item_source}: item metadata has no 'item_id' column; it has "
                f"{list(map(str, item_frame.columns))}. Pass "
                "item_columns={'<their id column>': 'item_id'}."
            )

    return InteractionDataset(
        interactions=frame,
        items=item_frame,
        name=name,
        timestamp_unit=timestamp_unit,
    )


def _check_columns_argument(columns) -> bool:
    """Validate `columns`; return whether it is a positional list."""
    if columns is None or isinstance(columns, Mapping):
        return False
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise ValueError(
            "`columns` must be a dict {their name: our name}, a list of our "
            f"names in file order, or None; got {type(columns).__name__}."
        )
    return True


def _stem(path: Path) -> str:
    """`ratings.csv.gz` -> `ratings`; unknown extensions are kept."""
    name = path.name
    for suffix in _COMPRESSIONS:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    suffix = Path(name).suffix
    if suffix.lower() in _EXTENSIONS and len(name) > len(suffix):
        name = name[: -len(suffix)]
    return name


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in _COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    fmt = _EXTENSIONS.get(Path(name).suffix)
    if fmt is None:
        raise DataError(
            f"{path}: cannot tell the format from the extension "
            f"{''.join(path.suffixes) or '(none)'!r}; known extensions are "
            f"{sorted(_EXTENSIONS)} (text ones optionally compressed, e.g. "
            "'.csv.gz'). Pass format='csv', 'tsv', 'txt' or 'parquet'."
        )
    if fmt == "parquet" and name != path.name.lower():
        raise DataError(f"{path}: a compressed Parquet file is not supported.")
    return fmt


def _load_table(path_or_frame, *, sep, format, header: bool):
    """Read a table; return (frame, source name, line of the first data row)."""
    if isinstance(path_or_frame, pd.DataFrame):
        frame = path_or_frame.copy(deep=False)
        if not header:  # positional names apply to the frame's columns
            frame.columns = range(frame.shape[1])
        return frame, "DataFrame", None
    if not isinstance(path_or_frame, (str, os.PathLike)):
        raise ValueError(
            "Expected a file path or a pandas DataFrame, got "
            f"{type(path_or_frame).__name__}."
        )
    path = Path(path_or_frame).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Interaction file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; pass a file.")
    fmt = format or _detect_format(path)
    if fmt == "parquet":
        return _read_parquet(path, header), str(path), None
    return _read_text(path, fmt, sep, header), str(path), (2 if header else 1)


def _read_parquet(path: Path, header: bool) -> pd.DataFrame:
    import pyarrow as pa

    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError) as err:
        raise DataError(f"{path}: could not be read as Parquet ({err}).") from err
    if not header:
        frame.columns = range(frame.shape[1])
    return frame


def _read_text(path: Path, fmt: str, sep: str | None, header: bool) -> pd.DataFrame:
    if sep is None:
        sep = _DEFAULT_SEPARATORS[fmt]
    options = {"sep": sep, "index_col": False, "header": 0 if header else None}
    if sep is None or (len(sep) > 1 and sep != r"\s+"):
        options["engine"] = "python"  # sniffing and multi-character separators
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(path, **options)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty.") from None
        except (
            pd.errors.ParserError,
            csv.Error,
            UnicodeDecodeError,
            EOFError,
            zlib.error,
            OSError,
            ValueError,
        ) as err:
            raise DataError(f"{path}: could not be parsed as {fmt} ({err}).") from err
    for warning in caught:
        if issubclass(warning.category, pd.errors.ParserWarning):
            # pandas would silently cut extra fields off: refuse instead.
            raise DataError(
                f"{path}: rows have more fields than the header "
                f"({warning.message}). Check the separator (sep={sep!r})."
            )
    if header and frame.shape[1] == 1 and fmt != "txt" and sep is not None:
        only = str(frame.columns[0])
        for other in (",", "\t", ";", "|"):
            if other != sep and other in only:
                logger.warning(
                    "%s has a single column %r; is the separator %r rather than %r?",
                    path,
                    only,
                    other,
                    sep,
                )
                break
    return frame


def _name_positionally(frame: pd.DataFrame, names: list, source: str) -> pd.DataFrame:
    bad = [n for n in names if n is not None and n not in INTERACTION_COLUMNS]
    if bad:
        raise ValueError(
            f"`columns` names {bad}, which are not ours; use "
            f"{list(INTERACTION_COLUMNS)} or None to skip a column."
        )
    repeated = sorted({n for n in names if n is not None and names.count(n) > 1})
    if repeated:
        raise ValueError(f"`columns` lists {repeated} more than once.")
    if len(names) != frame.shape[1]:
        raise DataError(
            f"{source}: `columns` lists {len(names)} names but the table has "
            f"{frame.shape[1]} columns."
        )
    keep = [i for i, n in enumerate(names) if n is not None]
    out = frame.iloc[:, keep].copy()
    out.columns = [names[i] for i in keep]
    return out


def _rename(frame: pd.DataFrame, mapping: dict, source: str, allowed) -> pd.DataFrame:
    absent = [k for k in mapping if k not in frame.columns]
    if absent:
        raise DataError(
            f"{source}: the column mapping names column(s) {absent} that are not "
            f"in the table; available columns: {list(map(str, frame.columns))}."
        )
    targets = list(mapping.values())
    if allowed is not None:
        bad = [t for t in targets if t not in allowed]
        if bad:
            raise ValueError(
                f"The column mapping maps to {bad}, which are not interaction "
                f"columns; map to {list(allowed)}."
            )
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise ValueError(f"The column mapping maps several columns to {repeated}.")
    clashes = [t for t in targets if t in frame.columns and t not in mapping]
    if clashes:
        raise DataError(
            f"{source}: the table already has column(s) {clashes} that are not "
            "renamed; the mapping would create a second column of the same name. "
            "Map the existing one too (e.g. {'user_id': 'user_id'}) or drop it."
        )
    return frame.rename(columns=mapping)


def _convert_timestamps(values: pd.Series, source: str, first_line):
    """Return (timestamps, whether they were parsed from dates)."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _to_seconds(values, values.isna().to_numpy(), source, first_line), True
    if pd.api.types.is_bool_dtype(dtype):
        raise DataError(f"{source}: column 'timestamp' holds booleans.")
    if pd.api.types.is_numeric_dtype(dtype):
        return values, False
    present = values.notna().to_numpy()
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().to_numpy().sum() == present.sum():
        return numeric, False  # numbers stored as text
    parsed = _parse_dates(values)
    unparsed = parsed.isna().to_numpy() & present
    if unparsed.any():
        at = int(np.flatnonzero(unparsed)[0])
        raise DataError(
            f"{source}: column 'timestamp' has {unparsed.sum():,} value(s) that are "
            f"neither numbers nor dates, e.g. {values.iloc[at]!r} in "
            f"{_where(values.index[at], at, first_line)}."
        )
    return _to_seconds(parsed, ~present, source, first_line), True


def _parse_dates(values: pd.Series) -> pd.Series:
    """Parse date strings as UTC, trying ISO 8601 first, then pandas' guess."""
    best = None
    for fmt in ("ISO8601", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                parsed = pd.to_datetime(values, format=fmt, utc=True, errors="coerce")
            except (ValueError, TypeError):
                continue
        if best is None or parsed.isna().sum() < best.isna().sum():
            best = parsed
        if not (best.isna() & values.notna()).any():
            break
    if best is None:
        best = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    return best


def _to_seconds(dates: pd.Series, missing: np.ndarray, source: str, first_line):
    if missing.any():
        at = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{source}: column 'timestamp' has {missing.sum():,} missing value(s), "
            f"e.g. in {_where(dates.index[at], at, first_line)}."
        )
    if dates.dt.tz is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return seconds.astype(np.int64)


def _where(label, position: int, from_file) -> str:
    if from_file is None:
        return f"the row with index {label!r}"
    return f"data row {position + 1}"
