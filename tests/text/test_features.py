"""PCA and the on-disk cache of item text features (with a fake encoder)."""

import dataclasses
import logging
import os

import numpy as np
import pandas as pd
import pytest

from rearec_keras import data
from rearec_keras.datasets import InteractionDataset
from rearec_keras.text import default_cache_dir
from rearec_keras.text import item_text_features
from rearec_keras.text import item_texts
from rearec_keras.text import pca


# --- PCA ---------------------------------------------------------------------


def test_pca_matches_a_hand_computed_projection():
    # Points on the line y = 2x plus a small orthogonal wobble: the first
    # component is (1, 2)/sqrt(5), the second (-2, 1)/sqrt(5) up to sign.
    t = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    wobble = np.array([0.1, -0.2, 0.0, 0.2, -0.1])  # zero mean, orthogonal to t
    u1 = np.array([1.0, 2.0]) / np.sqrt(5)
    u2 = np.array([-2.0, 1.0]) / np.sqrt(5)
    x = np.outer(t, u1) + np.outer(wobble, u2) + np.array([3.0, -1.0])  # off-centre
    out = pca(x, 2)
    assert out.dtype == np.float32 and out.shape == (5, 2)
    # Sign convention: each component's largest-magnitude loading is positive,
    # so u1 = (1, 2)/sqrt(5) stays and u2 becomes (2, -1)/sqrt(5).
    np.testing.assert_allclose(out[:, 0], t, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], -wobble, atol=1e-6)
    np.testing.assert_allclose(pca(x, 1)[:, 0], t, atol=1e-6)


def test_pca_components_are_uncorrelated_and_ordered_by_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10)) + 5.0
    out = pca(x, 6).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    cov = out.T @ out
    off_diagonal = cov - np.diag(np.diag(cov))
    assert np.abs(off_diagonal).max() < 1e-3 * np.diag(cov).max()
    variances = out.var(axis=0)
    assert np.all(np.diff(variances) < 0)
    # The kept variance equals the top eigenvalues of the covariance matrix.
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False, ddof=0)))[::-1]
    np.testing.assert_allclose(variances, eigenvalues[:6], rtol=1e-4)


def test_pca_is_deterministic_under_row_order():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5))
    perm = rng.permutation(30)
    np.testing.assert_allclose(pca(x, 3)[perm], pca(x[perm], 3), atol=1e-5)


@pytest.mark.parametrize("dim", [0, -1, 5, 2.0, True])
def test_pca_dim_errors(dim):
    with pytest.raises(ValueError, match=r"dim must be an int in 1\.\.4"):
        pca(np.ones((4, 6)), dim)


def test_pca_input_errors():
    with pytest.raises(ValueError, match="2-D"):
        pca(np.ones(5), 1)
    with pytest.raises(ValueError, match="NaN or infinite"):
        pca(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)


# --- cache -----------------------------------------------------------------


class CountingEncoder:
    """A stand-in encoder: a text's vector is (length, vowel count, 1)."""

    def __init__(self, identity="fake-encoder/1"):
        self.identity = identity
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return np.array(
            [[len(t), sum(c in "aeiou" for c in t), 1.0] for t in texts], dtype=np.float32
        )


def _movies(titles):
    items = pd.DataFrame({
        "item_id": np.arange(1, len(titles) + 1),
        "title": titles,
        "year": pd.array([1977 + i for i in range(len(titles))], dtype="Int64"),
        "genres": [("Sci-Fi",)] * len(titles),
    })
    interactions = pd.DataFrame({
        "user_id": [1] * len(titles),
        "item_id": np.arange(1, len(titles) + 1),
        "timestamp": np.arange(len(titles)),
    })
    return data.index_ids(InteractionDataset(interactions, items=items, name="ml-1m"))


TITLES = ["Star Wars", "Empire Strikes Back, The", "Return of the Jedi", "Alien"]


def _cache_files(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(".npz"))


def test_second_call_loads_from_cache(tmp_path):
    ds = _movies(TITLES)
    encoder = CountingEncoder()
    first = item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 1
    assert first.shape == (4, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(first, encoder.encode(item_texts(ds)))
    encoder.calls = 0
    second = item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 0
    np.testing.assert_array_equal(first, second)
    assert len(_cache_files(tmp_path)) == 1
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_pca_runs_after_the_cache(tmp_path):
    ds = _movies(TITLES)
    encoder = CountingEncoder()
    raw = item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    reduced = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, pca_dim=2)
    assert encoder.calls == 1
    np.testing.assert_allclose(reduced, pca(raw, 2))
    with pytest.raises(ValueError, match="dim must be an int"):
        item_text_features(ds, encoder=encoder, cache_dir=tmp_path, pca_dim=4)


def test_changed_texts_or_encoder_give_a_new_cache_file(tmp_path):
    encoder = CountingEncoder()
    item_text_features(_movies(TITLES), encoder=encoder, cache_dir=tmp_path)
    changed = TITLES[:3] + ["Aliens"]
    features = item_text_features(_movies(changed), encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 2 and len(_cache_files(tmp_path)) == 2
    assert features[3, 0] == len(item_texts(_movies(changed))[3])
    # Other fields, other texts.
    item_text_features(_movies(TITLES), encoder=encoder, cache_dir=tmp_path, fields=["title"])
    assert encoder.calls == 3 and len(_cache_files(tmp_path)) == 3
    # Another encoder identity (e.g. another sequence_length) misses too.
    other = CountingEncoder({"name": "fake", "sequence_length": 64})
    item_text_features(_movies(TITLES), encoder=other, cache_dir=tmp_path)
    assert other.calls == 1 and len(_cache_files(tmp_path)) == 4


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda path: path.write_bytes(b"not a numpy file"),
        lambda path: np.savez(path, features=np.ones((2, 3), np.float32), key=np.array(
            str(np.load(path)["key"]))),
        lambda path: np.savez(path, features=np.ones((4, 3), np.float32), key=np.array("other")),
    ],
    ids=["garbage", "wrong-shape", "wrong-key"],
)
def test_corrupt_cache_is_recomputed_with_a_warning(tmp_path, caplog, corrupt):
    ds = _movies(TITLES)
    encoder = CountingEncoder()
    good = item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    [name] = _cache_files(tmp_path)
    corrupt(tmp_path / name)
    with caplog.at_level(logging.WARNING, logger="rearec_keras"):
        again = item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 2
    np.testing.assert_array_equal(again, good)
    assert any("recomputing" in r.getMessage() for r in caplog.records)
    # The file was rewritten: the next call is a hit again.
    item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 2


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REAREC_KERAS_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == str(tmp_path / "cache" / "text_features")
    monkeypatch.delenv("REAREC_KERAS_CACHE")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert default_cache_dir() == str(tmp_path / "keras" / "rearec_keras" / "text_features")
    monkeypatch.delenv("KERAS_HOME")
    assert default_cache_dir() == os.path.expanduser(
        os.path.join("~", ".keras", "rearec_keras", "text_features")
    )
    # cache_dir=None writes there.
    monkeypatch.setenv("REAREC_KERAS_CACHE", str(tmp_path / "cache"))
    item_text_features(_movies(TITLES), encoder=CountingEncoder())
    assert len(_cache_files(tmp_path / "cache" / "text_features")) == 1


def test_bad_encoders_are_errors(tmp_path):
    ds = _movies(TITLES)
    with pytest.raises(TypeError, match="`identity` attribute and an `encode"):
        item_text_features(ds, encoder=object(), cache_dir=tmp_path)

    class WrongRows(CountingEncoder):
        def encode(self, texts):
            return np.ones((len(texts) - 1, 3))

    with pytest.raises(ValueError, match=r"returned shape \(3, 3\) for 4 texts"):
        item_text_features(ds, encoder=WrongRows(), cache_dir=tmp_path)
    assert _cache_files(tmp_path) == []


def test_no_metadata_fails_before_encoding(tmp_path):
    ds = dataclasses.replace(_movies(TITLES), items=None)
    encoder = CountingEncoder()
    with pytest.raises(ValueError, match="no item metadata"):
        item_text_features(ds, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 0
