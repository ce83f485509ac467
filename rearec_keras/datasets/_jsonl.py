"""JSON-lines reading shared by the Amazon and Yelp loaders."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Iterator

from rearec_keras.datasets.validation import DataError


def open_text(file: Path):
    """Open a UTF-8 text file, transparently gunzipping `*.gz`."""
    if Path(file).name.endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8")
    return open(file, encoding="utf-8")


def json_objects(file: Path) -> Iterator[tuple[int, dict]]:
    """Yield `(line_number, object)` for every non-blank line of a JSONL file.

    Raises:
        DataError: a line that is not valid JSON or not a JSON object, or a
            file that cannot be read/decoded (file and line named).
    """
    try:
        with open_text(file) as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(
                        f"{file}, line {line_no}: not valid JSON ({err.msg} at "
                        f"column {err.colno})."
                    ) from None
                if not isinstance(record, dict):
                    raise DataError(
                        f"{file}, line {line_no}: expected a JSON object, got "
                        f"{type(record).__name__}."
                    )
                yield line_no, record
    except (UnicodeDecodeError, EOFError, zlib.error, OSError) as err:
        raise DataError(f"{file}: could not be read ({err}).") from err


def keyed_json_objects(file: Path, key: str, what: str) -> Iterator[tuple[int, str, dict]]:
    """Like `json_objects`, for files with one object per unique string id.

    Yields `(line_number, id, object)`; raises `DataError` when `key` is
    missing or empty, or when an id repeats (naming both lines).
    """
    first_line: dict[str, int] = {}
    for line_no, record in json_objects(file):
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DataError(
                f"{file}, line {line_no}: missing or empty '{key}' (got {value!r})."
            )
        if value in first_line:
            raise DataError(
                f"{file}, line {line_no}: {what} {value!r} is listed again "
                f"(first on line {first_line[value]})."
            )
        first_line[value] = line_no
        yield line_no, value, record


def text(value) -> str:
    """A metadata value as a stripped string ('' for None)."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)
