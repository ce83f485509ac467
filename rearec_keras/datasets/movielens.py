"""MovieLens-100K and MovieLens-1M (GroupLens), with offline resolution.

Where the files come from, in this order:

1. `path=` given by the caller: a directory holding the GroupLens files
   (`u.data` + `u.item` for ml-100k, `ratings.dat` + `movies.dat` for ml-1m)
   or RecBole atomic files (`ml-100k.inter` + `ml-100k.item`).
2. The Keras cache (`$KERAS_HOME/datasets/`, default `~/.keras/datasets/`),
   where `keras.utils.get_file` leaves the GroupLens archives.
3. For ml-100k, the copy shipped inside the `recbole` package
   (`pip install --no-deps recbole==1.2.1`, about 2 MB, no PyTorch).
4. The GroupLens download through `keras.utils.get_file` (`download=True`).

Both sources of ml-100k give the same dataset: 943 users, 1,682 items,
100,000 ratings (1-5) with Unix-second timestamps, and item metadata
`title` (without the "(year)" suffix), `year` (nullable int) and `genres`
(tuple of GroupLens genre names).
"""

from __future__ import annotations

import importlib.util
import os
import re

import numpy as np
import pandas as pd

from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.recbole_atomic import load_recbole_atomic
from rearec_keras.datasets.validation import DataError

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"

# Genre flag order of ml-100k's u.item (documented in its README / u.genre).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
    "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
    "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

_GROUPLENS_FILES = {
    "ml-100k": ("u.data", "u.item"),
    "ml-1m": ("ratings.dat", "movies.dat"),
}
SUPPORTED = tuple(_GROUPLENS_FILES)
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


class DatasetNotFoundError(FileNotFoundError):
    """No local copy of a dataset was found and it could not be downloaded."""


def _keras_cache_dir() -> str:
    return os.path.join(
        os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))),
        "datasets",
    )


def _recbole_dir(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    directory = os.path.join(os.path.dirname(spec.origin), "dataset_example", name)
    return directory if os.path.isfile(os.path.join(directory, f"{name}.inter")) else None


def _format_of(directory: str, name: str) -> str | None:
    """`"grouplens"`, `"recbole"` or None for a candidate directory."""
    if all(os.path.isfile(os.path.join(directory, f)) for f in _GROUPLENS_FILES[name]):
        return "grouplens"
    if os.path.isfile(os.path.join(directory, f"{name}.inter")):
        return "recbole"
    return None


def _cache_candidates(name: str) -> list[str]:
    base = _keras_cache_dir()
    return [
        os.path.join(base, name),
        os.path.join(base, f"{name}_extracted", name),
        os.path.join(base, f"{name}_extracted"),
    ]


def _not_found_message(name: str, looked: list[str], download_error: str | None) -> str:
    data_file = _GROUPLENS_FILES[name][0]
    lines = [
        f"MovieLens '{name}' not found: no '{data_file}' (GroupLens) or "
        f"'{name}.inter' (RecBole) in any of:",
    ]
    lines += [f"  - {p}" for p in looked]
    if download_error is not None:
        lines.append(f"and the download of {GROUPLENS_URL.format(name=name)} failed: {download_error}")
    else:
        lines.append("and download=False.")
    if name == "ml-100k":
        lines.append(
            "To provide it offline run: pip install --no-deps recbole==1.2.1 "
            "(ships ml-100k), or unzip "
            f"{GROUPLENS_URL.format(name=name)} and pass path=<the ml-100k folder>."
        )
    else:
        lines.append(
            f"To provide it: download {GROUPLENS_URL.format(name=name)}, unzip it into "
            f"{_keras_cache_dir()} (giving {os.path.join(_keras_cache_dir(), name, data_file)}) "
            f"or pass path=<the {name} folder>."
        )
    return "\n".join(lines)


def locate_movielens(name: str = "ml-100k", path: str | None = None, download: bool = True):
    """Find a local copy of a MovieLens dataset, downloading it if allowed.

    Returns:
        `(directory, format)` with format `"grouplens"` or `"recbole"`.

    Raises:
        ValueError: unknown `name`.
        DatasetNotFoundError: nothing found and the download failed or was
            disabled; the message lists where it looked and the command that
            provides the files.
    """
    if name not in _GROUPLENS_FILES:
        raise ValueError(
            f"Unknown MovieLens dataset {name!r}; supported: {list(SUPPORTED)}."
        )
    if path is not None:
        path = os.path.expanduser(str(path))
        if not os.path.isdir(path):
            raise FileNotFoundError(f"MovieLens path {path!r} is not a directory.")
        for candidate in (path, os.path.join(path, name)):
            fmt = os.path.isdir(candidate) and _format_of(candidate, name)
            if fmt:
                return candidate, fmt
        expected = " + ".join(_GROUPLENS_FILES[name])
        raise FileNotFoundError(
            f"{path!r} holds neither the GroupLens files ({expected}) nor the "
            f"RecBole files ('{name}.inter') of {name}."
        )
    looked = []
    for candidate in _cache_candidates(name):
        looked.append(candidate)
        if os.path.isdir(candidate):
            fmt = _format_of(candidate, name)
            if fmt:
                return candidate, fmt
    recbole = _recbole_dir(name)
    if recbole is not None:
        return recbole, "recbole"
    looked.append(
        "the recbole package (not installed)"
        if importlib.util.find_spec("recbole") is None
        else f"the recbole package (has no {name})"
    )
    if not download:
        raise DatasetNotFoundError(_not_found_message(name, looked, None))
    try:
        import keras  # Lazy: only a download needs Keras.

        extracted = keras.utils.get_file(
            fname=f"{name}.zip",
            origin=GROUPLENS_URL.format(name=name),
            extract=True,
            cache_subdir="datasets",
        )
    except Exception as e:  # noqa: BLE001 - any failure means "not available".
        raise DatasetNotFoundError(
            _not_found_message(name, looked, f"{type(e).__name__}: {e}")
        ) from None
    for candidate in [os.path.join(str(extracted), name), str(extracted)] + _cache_candidates(name):
        if os.path.isdir(candidate) and _format_of(candidate, name):
            return candidate, _format_of(candidate, name)
    raise DatasetNotFoundError(
        _not_found_message(name, looked, f"the archive did not contain {name}/")
    )


def _read_delimited(path: str, sep: str, names: list[str], encoding: str) -> pd.DataFrame:
    expected = len(names)
    rows = []
    with open(path, encoding=encoding) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split(sep)
            if len(fields) != expected:
                raise DataError(
                    f"{path}, line {lineno}: expected {expected} fields separated by "
                    f"{sep!r}, found {len(fields)}."
                )
            rows.append(fields)
    return pd.DataFrame(rows, columns=names)


def _to_int(frame: pd.DataFrame, path: str, columns) -> None:
    for c in columns:
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: field '{c}' must be an integer, got {frame[c].iloc[row]!r} "
                f"(data row {row + 1})."
            )
        frame[c] = values.astype(np.int64)


def _split_title(title: str):
    m = _TITLE_YEAR.match(title)
    return (m.group(1), int(m.group(2))) if m else (title.strip(), None)


def _read_grouplens_100k(directory: str):
    data_path = os.path.join(directory, "u.data")
    inter = _read_delimited(
        data_path, "\t", ["user_id", "item_id", "rating", "timestamp"], "latin-1"
    )
    _to_int(inter, data_path, ["user_id", "item_id", "rating", "timestamp"])
    item_path = os.path.join(directory, "u.item")
    raw = _read_delimited(
        item_path,
        "|",
        ["item_id", "title", "release_date", "video_release_date", "url", *ML100K_GENRES],
        "latin-1",
    )
    _to_int(raw, item_path, ["item_id"])
    titles, years = [], []
    for title, date in zip(raw["title"], raw["release_date"]):
        base, year = _split_title(title)
        m = re.search(r"(\d{4})$", date.strip())
        titles.append(base)
        years.append(int(m.group(1)) if m else year)
    flags = raw[list(ML100K_GENRES)].to_numpy() == "1"
    genres = [tuple(g for g, f in zip(ML100K_GENRES, row) if f) for row in flags]
    items = pd.DataFrame(
        {
            "item_id": raw["item_id"],
            "title": titles,
            "year": pd.array(years, dtype="Int64"),
            "genres": genres,
        }
    )
    return inter, items


def _read_grouplens_1m(directory: str):
    data_path = os.path.join(directory, "ratings.dat")
    inter = _read_delimited(
        data_path, "::", ["user_id", "item_id", "rating", "timestamp"], "latin-1"
    )
    _to_int(inter, data_path, ["user_id", "item_id", "rating", "timestamp"])
    item_path = os.path.join(directory, "movies.dat")
    raw = _read_delimited(item_path, "::", ["item_id", "title", "genres"], "latin-1")
    _to_int(raw, item_path, ["item_id"])
    split = [_split_title(t) for t in raw["title"]]
    items = pd.DataFrame(
        {
            "item_id": raw["item_id"],
            "title": [t for t, _ in split],
            "year": pd.array([y for _, y in split], dtype="Int64"),
            "genres": [tuple(g for g in s.split("|") if g) for s in raw["genres"]],
        }
    )
    return inter, items


def _from_recbole(directory: str, name: str):
    ds = load_recbole_atomic(directory, name)
    inter = ds.interactions[["user_id", "item_id", "rating", "timestamp"]].copy()
    items = None
    if ds.items is not None:
        raw = ds.items
        # RecBole's ml-100k spells the unknown movie 'unkonwn'; GroupLens says 'unknown'.
        title = raw.get("movie_title", pd.Series([()] * len(raw)))
        titles = [" ".join(t) if isinstance(t, tuple) else str(t) for t in title]
        titles = ["unknown" if t == "unkonwn" else t for t in titles]
        years = pd.to_numeric(raw.get("release_year"), errors="coerce")
        items = pd.DataFrame(
            {
                "item_id": raw["item_id"],
                "title": titles,
                "year": pd.array(years, dtype="Int64"),
                "genres": list(raw["class"]) if "class" in raw else [()] * len(raw),
            }
        )
    return inter, items


def load_movielens(
    name: str = "ml-100k",
    path: str | None = None,
    *,
    download: bool = True,
    metadata: bool = True,
) -> InteractionDataset:
    """Load the real MovieLens-100K or MovieLens-1M ratings.

    Args:
        name: `"ml-100k"` or `"ml-1m"`.
        path: optional directory with the GroupLens or RecBole files;
            otherwise the Keras cache, then the `recbole` package copy
            (ml-100k), then a GroupLens download are tried in that order.
        download: whether the last resort may download from GroupLens.
        metadata: whether to attach item metadata (`title`, `year`,
            `genres`).

    Returns:
        An `InteractionDataset` with columns `user_id`, `item_id`, `rating`
        (1-5) and `timestamp` (Unix seconds); ids are GroupLens' integer ids.

    Raises:
        ValueError: unknown `name`.
        DatasetNotFoundError: no copy found and none could be downloaded;
            the message lists every place tried and the command that
            provides the data (`pip install --no-deps recbole==1.2.1`).
        DataError: a corrupt file (file and line named).

    Example:
    >>> ds = load_movielens("ml-100k")  # doctest: +SKIP
    >>> ds.num_users, ds.num_items, ds.num_interactions  # doctest: +SKIP
    (943, 1682, 100000)
    """
    directory, fmt = locate_movielens(name, path, download=download)
    if fmt == "recbole":
        inter, items = _from_recbole(directory, name)
    elif name == "ml-100k":
        inter, items = _read_grouplens_100k(directory)
    else:
        inter, items = _read_grouplens_1m(directory)
    return InteractionDataset(
        interactions=inter[["user_id", "item_id", "rating", "timestamp"]],
        items=items if metadata else None,
        name=name,
        timestamp_unit="s",
    )
