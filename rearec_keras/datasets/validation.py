"""Checks that turn bad interaction tables into errors that name the problem.

`validate_interactions` is run by `InteractionDataset` on construction, so
every loader and every preprocessing step goes through it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ID_COLUMNS = ("user_id", "item_id")


class DataError(ValueError):
    """Raised for malformed or unusable interaction data."""


def show(value) -> str:
    """repr() of a value with numpy scalars shown as plain Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _rows(mask: np.ndarray | pd.Series, frame: pd.DataFrame, limit: int = 3):
    """Describe the first offending rows: their index labels."""
    idx = frame.index[np.asarray(mask)]
    shown = ", ".join(str(i) for i in idx[:limit])
    more = f" and {len(idx) - limit:,} more" if len(idx) > limit else ""
    return f"{len(idx):,} row(s) (index {shown}{more})"


def _check_id_column(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    null = values.isna().to_numpy()
    if null.any():
        raise DataError(
            f"{source}: column '{column}' has missing ids in "
            f"{_rows(null, frame)}."
        )
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise DataError(
            f"{source}: column '{column}' holds booleans; ids must be "
            "non-negative integers or non-empty strings."
        )
    if pd.api.types.is_integer_dtype(dtype):
        negative = (values < 0).to_numpy()
        if negative.any():
            first = values[negative].iloc[0]
            raise DataError(
                f"{source}: column '{column}' has negative ids (e.g. {first}) in "
                f"{_rows(negative, frame)}; ids must be >= 0."
            )
        return values.astype(np.int64)
    if pd.api.types.is_float_dtype(dtype):
        arr = values.to_numpy()
        non_integer = arr != np.floor(arr)
        if non_integer.any():
            first = arr[non_integer][0]
            raise DataError(
                f"{source}: column '{column}' has non-integer ids (e.g. {first}) "
                f"in {_rows(non_integer, frame)}."
            )
        negative = arr < 0
        if negative.any():
            raise DataError(
                f"{source}: column '{column}' has negative ids (e.g. "
                f"{arr[negative][0]:g}) in {_rows(negative, frame)}; ids must be >= 0."
            )
        return values.astype(np.int64)
    # Strings (object or pandas string dtype).
    kinds = values.map(type)
    is_str = kinds.map(lambda t: issubclass(t, str)).to_numpy()
    if not is_str.all():
        bad = values[~is_str].iloc[0]
        raise DataError(
            f"{source}: column '{column}' mixes strings with {type(bad).__name__} "
            f"values (e.g. {show(bad)}) in {_rows(~is_str, frame)}; use one id type."
        )
    empty = (values.str.strip() == "").to_numpy()
    if empty.any():
        raise DataError(
            f"{source}: column '{column}' has empty-string ids in {_rows(empty, frame)}."
        )
    return values.astype(object)


def _check_timestamp(frame: pd.DataFrame, source: str) -> pd.Series:
    values = frame["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        null = values.isna().to_numpy()
        if null.any():
            raise DataError(
                f"{source}: column 'timestamp' has missing (NaT) values in "
                f"{_rows(null, frame)}."
            )
        # Unix seconds.
        return (values.astype("datetime64[s]").astype(np.int64)).astype(np.int64)
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
        values.dtype
    ):
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna().to_numpy() & values.notna().to_numpy()
        if bad.any():
            raise DataError(
                f"{source}: column 'timestamp' has non-numeric values (e.g. "
                f"{show(values[bad].iloc[0])}) in {_rows(bad, frame)}."
            )
        values = converted
    null = values.isna().to_numpy()
    if null.any():
        raise DataError(
            f"{source}: column 'timestamp' has NaN values in {_rows(null, frame)}; "
            "every interaction needs a time to be ordered."
        )
    if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        raise DataError(
            f"{source}: column 'timestamp' has infinite values in {_rows(bad, frame)}."
        )
    return values


def validate_interactions(frame, source: str = "interactions") -> pd.DataFrame:
    """Check an interaction table and normalise its dtypes in place.

    Integral float ids become int64; datetime timestamps become Unix
    seconds. Raises `DataError` (a `ValueError`) naming the column and the
    offending rows for: a non-DataFrame, missing columns, missing ids,
    negative or non-integer numeric ids, mixed id types, empty-string ids,
    NaN/non-numeric timestamps, NaN/non-numeric ratings.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"{source}: interactions must be a pandas DataFrame, got "
            f"{type(frame).__name__}."
        )
    missing = [c for c in ("user_id", "item_id", "timestamp") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing required column(s) {missing}; found columns "
            f"{list(map(str, frame.columns))}. Rename them or pass a column "
            "mapping, e.g. columns={'user': 'user_id', 'movie': 'item_id', "
            "'time': 'timestamp'}."
        )
    for column in ID_COLUMNS:
        frame[column] = _check_id_column(frame, column, source)
    frame["timestamp"] = _check_timestamp(frame, source)
    if "rating" in frame.columns:
        rating = pd.to_numeric(frame["rating"], errors="coerce")
        bad = rating.isna().to_numpy()
        if bad.any():
            raise DataError(
                f"{source}: column 'rating' has missing or non-numeric values in "
                f"{_rows(bad, frame)}."
            )
        frame["rating"] = rating
    return frame


def validate_items(frame, source: str = "items") -> pd.DataFrame:
    """Check an item-metadata table: a DataFrame with a unique `item_id`."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"{source}: item metadata must be a pandas DataFrame, got "
            f"{type(frame).__name__}."
        )
    if "item_id" not in frame.columns:
        raise DataError(
            f"{source}: item metadata has no 'item_id' column; found "
            f"{list(map(str, frame.columns))}."
        )
    frame["item_id"] = _check_id_column(frame, "item_id", f"{source} item metadata")
    dup = frame["item_id"].duplicated().to_numpy()
    if dup.any():
        raise DataError(
            f"{source}: item metadata lists item id "
            f"{show(frame['item_id'][dup].iloc[0])} more than once "
            f"({_rows(dup, frame)})."
        )
    return frame
