"""Loader for RecBole atomic files (`.inter`, `.item`).

RecBole's atomic format is a tab-separated file whose header names each
field with its type, `name:type`, where type is one of `token`,
`token_seq` (space-separated tokens), `float` or `float_seq`. See the
RecBole documentation, "Atomic Files".
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pandas as pd

from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.validation import DataError

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")

# RecBole's default field names for the columns we need.
DEFAULT_COLUMNS = {
    "user_id": "user_id",
    "item_id": "item_id",
    "timestamp": "timestamp",
    "rating": "rating",
}


def read_atomic_file(path: str) -> pd.DataFrame:
    """Read one atomic file into a DataFrame with typed columns.

    Column names lose their `:type` suffix. `token` columns stay strings,
    except that a column whose every token is a canonical non-negative
    integer (`"7"`, not `"007"`) becomes int64; `float` columns become
    float64 (int64 when every value is integral); `token_seq` and
    `float_seq` become tuples.

    Raises:
        FileNotFoundError: `path` does not exist.
        DataError: a header field without a valid `:type`, or a line with
            the wrong number of fields, or a `float` field that does not
            parse.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"RecBole atomic file not found: {path}")
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n")
    if not header:
        raise DataError(f"{path}: empty file (expected a header 'name:type\\t...').")
    names, types = [], []
    for field in header.split("\t"):
        name, sep, ftype = field.rpartition(":")
        if not sep or ftype not in FIELD_TYPES or not name:
            raise DataError(
                f"{path}: header field {field!r} is not 'name:type' with type in "
                f"{list(FIELD_TYPES)}; is this a RecBole atomic file?"
            )
        names.append(name)
        types.append(ftype)
    # Validate the field count of every line ourselves so a corrupt line is
    # reported with its line number (pandas would pad or fail obscurely).
    with open(path, encoding="utf-8", newline="") as f:
        f.readline()
        for lineno, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            n = line.count("\t") + 1
            if n != len(names):
                raise DataError(
                    f"{path}, line {lineno}: expected {len(names)} tab-separated "
                    f"fields ({', '.join(names)}), found {n}."
                )
    frame = pd.read_csv(
        path,
        sep="\t",
        header=None,
        skiprows=1,
        names=names,
        dtype=str,
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=True,
        engine="c",
    )
    for name, ftype in zip(names, types):
        column = frame[name]
        if ftype == "token":
            if len(column) and column.str.fullmatch(r"0|[1-9][0-9]*").all():
                frame[name] = column.astype(np.int64)
        elif ftype == "float":
            values = pd.to_numeric(column, errors="coerce")
            bad = values.isna() & (column != "")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"{path}, line {row + 2}: field '{name}' is declared float but "
                    f"holds {column.iloc[row]!r}."
                )
            if len(values) and values.notna().all() and (values == np.floor(values)).all():
                values = values.astype(np.int64)
            frame[name] = values
        elif ftype == "token_seq":
            frame[name] = column.map(lambda s: tuple(s.split()))
        else:  # float_seq
            try:
                frame[name] = column.map(lambda s: tuple(float(x) for x in s.split()))
            except ValueError as e:
                raise DataError(f"{path}: field '{name}' (float_seq): {e}") from None
    return frame


def load_recbole_atomic(
    path: str,
    name: str | None = None,
    *,
    columns: dict[str, str] | None = None,
    metadata: bool = True,
    timestamp_unit: str | None = "s",
) -> InteractionDataset:
    """Load a dataset stored as RecBole atomic files.

    Args:
        path: the directory holding `{name}.inter` (and optionally
            `{name}.item`), or the path of the `.inter` file itself.
        name: the dataset name (file stem). Defaults to the directory name.
        columns: mapping from the file's field names to ours (`user_id`,
            `item_id`, `timestamp`, `rating`), for files that do not use
            RecBole's default names. Fields not mapped keep their names.
        metadata: whether to read `{name}.item` when it exists.
        timestamp_unit: unit of the timestamp field (`"s"` for Unix
            seconds, `None` when it is only an order).

    Returns:
        An `InteractionDataset`.

    Raises:
        FileNotFoundError: the `.inter` file does not exist.
        DataError: malformed files (see `read_atomic_file`) or missing
            columns.

    Example:
    >>> ds = load_recbole_atomic("path/to/ml-100k")  # doctest: +SKIP
    """
    if os.path.isfile(path) and path.endswith(".inter"):
        inter_path = path
        directory = os.path.dirname(path)
        name = name or os.path.basename(path)[: -len(".inter")]
    else:
        directory = path
        name = name or os.path.basename(os.path.normpath(path))
        inter_path = os.path.join(directory, f"{name}.inter")
    if not os.path.isfile(inter_path):
        raise FileNotFoundError(
            f"RecBole interaction file not found: {inter_path} (expected "
            f"'{name}.inter' in {directory!r})."
        )
    mapping = dict(DEFAULT_COLUMNS)
    if columns:
        unknown = set(columns.values()) - set(DEFAULT_COLUMNS)
        if unknown:
            raise ValueError(
                f"columns maps to unknown names {sorted(unknown)}; targets must be "
                f"among {sorted(DEFAULT_COLUMNS)}."
            )
        mapping = {k: k for k in DEFAULT_COLUMNS if k not in columns.values()}
        mapping.update(columns)
    inter = read_atomic_file(inter_path)
    missing = [src for src, dst in mapping.items() if src not in inter.columns and dst != "rating"]
    if missing:
        raise DataError(
            f"{inter_path}: missing field(s) {missing}; found {list(inter.columns)}. "
            "Pass columns={'their_name': 'user_id', ...} to map them."
        )
    inter = inter.rename(columns={s: d for s, d in mapping.items() if s in inter.columns})

    items = None
    item_path = os.path.join(directory, f"{name}.item")
    if metadata and os.path.isfile(item_path):
        items = read_atomic_file(item_path)
        item_src = next((s for s, d in mapping.items() if d == "item_id"), "item_id")
        if item_src not in items.columns:
            raise DataError(
                f"{item_path}: no '{item_src}' field; found {list(items.columns)}."
            )
        items = items.rename(columns={item_src: "item_id"})
    return InteractionDataset(
        interactions=inter, items=items, name=name, timestamp_unit=timestamp_unit
    )
