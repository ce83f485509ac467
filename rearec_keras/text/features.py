"""Item text features: encoded once, cached on disk, optionally reduced by PCA."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time

import numpy as np

from rearec_keras.text.item_text import item_texts
from rearec_keras.utils.progress import live_bar

logger = logging.getLogger("rearec_keras")

_CACHE_FORMAT = 1


def default_cache_dir() -> str:
    """Where `item_text_features` caches features unless told otherwise.

    `$REAREC_KERAS_CACHE/text_features` when the `REAREC_KERAS_CACHE`
    environment variable is set, else `rearec_keras/text_features` under the
    Keras home (`$KERAS_HOME`, default `~/.keras`), next to the `datasets`
    folder where Keras keeps downloaded datasets.
    """
    root = os.environ.get("REAREC_KERAS_CACHE")
    if not root:
        keras_home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
        root = os.path.join(keras_home, "rearec_keras")
    return os.path.join(os.path.expanduser(root), "text_features")


def pca(features, dim: int) -> np.ndarray:
    """Project features onto their top `dim` principal components (numpy only).

    The features are centred, decomposed by SVD (in float64) and projected
    onto the right singular vectors of the `dim` largest singular values,
    so output column `j` has the `j`-th largest variance and the columns are
    uncorrelated. Each component's sign is fixed so that its
    largest-magnitude loading is positive: the result is deterministic.

    Args:
        features: `[n, F]` array.
        dim: number of components, `1 <= dim <= min(n, F)`.

    Returns:
        float32 `[n, dim]`.

    Raises:
        ValueError: `features` is not a finite 2-D array, or `dim` is out
            of range.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"pca needs a 2-D [n, F] array, got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("pca: features contain NaN or infinite values.")
    n, width = x.shape
    limit = min(n, width)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= limit:
        raise ValueError(
            f"pca: dim must be an int in 1..{limit} (min of {n} rows and {width} "
            f"features), got {dim!r}."
        )
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:dim]
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(dim), largest])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    return (centred @ components.T).astype(np.float32)


def _cache_key(identity, texts: list[str]) -> str:
    payload = json.dumps(
        {"format": _CACHE_FORMAT, "encoder": identity, "texts": texts},
        sort_keys=True, ensure_ascii=False, default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _load_cached(path: str, key: str, num_texts: int) -> np.ndarray | None:
    """The cached features, or None (with a warning) if unusable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            stored_key = str(archive["key"])
            features = np.asarray(archive["features"])
    except Exception as error:  # noqa: BLE001 - any unreadable file is recomputed
        logger.warning("Text feature cache %s is unreadable (%s); recomputing.", path, error)
        return None
    problem = None
    if stored_key != key:
        problem = "was written for other texts or another encoder"
    elif features.ndim != 2 or features.shape[0] != num_texts or features.shape[1] < 1:
        problem = f"has shape {features.shape}, expected ({num_texts}, F)"
    elif not np.issubdtype(features.dtype, np.floating) or not np.all(np.isfinite(features)):
        problem = "holds non-finite or non-float values"
    if problem:
        logger.warning("Text feature cache %s %s; recomputing.", path, problem)
        return None
    return features.astype(np.float32, copy=False)


def _save_atomically(path: str, key: str, features: np.ndarray) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, features=features, key=np.array(key))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def item_text_features(
    data,
    encoder=None,
    cache_dir: str | os.PathLike | None = None,
    pca_dim: int | None = None,
    fields=None,
    verbose: int = 0,
) -> np.ndarray:
    """Encoded item texts, one row per item, computed once and cached.

    Builds the template text of every item (`item_texts`), encodes them and
    stores the raw encoder output in `cache_dir` under a sha256 of the
    encoder's `identity` and the texts: the same texts with the same encoder
    load from disk on later calls (without loading the encoder's weights);
    any change to the metadata, the fields or the encoder settings gives a
    new file. Files are written atomically (a temporary file, then
    `os.replace`), and a corrupt or mismatched file is recomputed with a
    warning. PCA, when asked for, runs after the cache, so trying several
    `pca_dim` values encodes once.

    Args:
        data: a `rearec_keras.data.Split` or an indexed `InteractionDataset`
            with item metadata (see `item_texts`).
        encoder: anything with an `identity` (JSON-serialisable: what
            determines the vectors) and `encode(texts) -> [n, F]`, called as
            `encode(texts, verbose=1)` when a live progress bar is wanted.
            `None` uses a default `TextEncoder()` (all-MiniLM-L6-v2), whose
            weights load only on a cache miss.
        cache_dir: folder of the cache; `None` is `default_cache_dir()`
            (`$REAREC_KERAS_CACHE/text_features`, else
            `~/.keras/rearec_keras/text_features`).
        pca_dim: if given, reduce the features to this many principal
            components (`pca`).
        fields: which metadata fields to show (see `item_texts`).
        verbose: 1 prints where the features came from and shows the
            encoder's live progress bar when stdout is a terminal; 2 (or 1
            in a log) prints the lines only.

    Returns:
        float32 `[num_items, F]` (`F = pca_dim` when given): row `i - 1` is
        item `i`.

    Raises:
        ValueError: as `item_texts`; the encoder returns the wrong shape;
            `pca_dim` is out of range.
        TypeError: `encoder` has no `identity` or `encode`.

    Example:

    ```python
    import rearec_keras
    from rearec_keras import data
    from rearec_keras.text import item_text_features

    split = data.leave_one_out(rearec_keras.load_movielens("ml-100k"))
    features = item_text_features(split)  # (1682, 384), about a minute once
    reduced = item_text_features(split, pca_dim=64)  # from the cache
    ```
    """
    texts = item_texts(data, fields=fields)
    if encoder is None:
        from rearec_keras.text.encoder import TextEncoder

        encoder = TextEncoder()
    if not hasattr(encoder, "identity") or not callable(getattr(encoder, "encode", None)):
        raise TypeError(
            "`encoder` must have an `identity` attribute and an `encode(texts)` method "
            f"(like rearec_keras.text.TextEncoder), got {type(encoder).__name__}."
        )
    key = _cache_key(encoder.identity, texts)
    directory = default_cache_dir() if cache_dir is None else os.path.expanduser(
        os.fspath(cache_dir)
    )
    path = os.path.join(directory, f"{key}.npz")
    features = _load_cached(path, key, len(texts)) if os.path.exists(path) else None
    if features is not None:
        if verbose:
            print(f"Item text features {features.shape} loaded from {path}.")
    else:
        start = time.perf_counter()
        # The encoder's live bar in a terminal; its summary line would repeat
        # the one below, so a log gets only ours.
        raw = encoder.encode(texts, verbose=1) if live_bar(verbose) else encoder.encode(texts)
        features = np.asarray(raw, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != len(texts) or features.shape[1] < 1:
            raise ValueError(
                f"The encoder returned shape {features.shape} for {len(texts)} texts; "
                f"expected ({len(texts)}, F)."
            )
        _save_atomically(path, key, features)
        if verbose:
            print(
                f"Encoded {len(texts):,} item texts into {features.shape} in "
                f"{time.perf_counter() - start:.1f}s; cached at {path}."
            )
    if pca_dim is not None:
        features = pca(features, pca_dim)
    return features
