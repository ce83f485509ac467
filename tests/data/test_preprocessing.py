import logging

import numpy as np
import pandas as pd
import pytest

from rearec_keras import data
from rearec_keras.datasets import DataError
from rearec_keras.datasets import InteractionDataset


def make(rows, items=None, name="toy"):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    return InteractionDataset(frame, items=items, name=name)


def test_filter_ratings_keeps_strictly_above_threshold():
    ds = make([(1, 1, 1, 5), (1, 2, 2, 3), (2, 1, 3, 4), (2, 3, 4, 3.5), (3, 2, 5, 1)])
    out = data.filter_ratings(ds, 3)
    assert out.interactions["rating"].tolist() == [5, 4, 3.5]
    step = out.processing[-1]
    assert (step.step, step.removed_interactions, step.removed_users, step.removed_items) == (
        "filter_ratings", 2, 1, 1,
    )
    assert "rating <= 3" in step.reason
    assert ds.num_interactions == 5  # input untouched


def test_filter_ratings_without_rating_column():
    ds = InteractionDataset(pd.DataFrame({"user_id": [1], "item_id": [1], "timestamp": [0]}), name="x")
    with pytest.raises(DataError, match="no 'rating' column"):
        data.filter_ratings(ds)


def test_empty_after_filtering_is_an_error():
    ds = make([(1, 1, 1, 1), (2, 2, 2, 2)])
    with pytest.raises(DataError, match="no interactions remain after filter_ratings.*removed all 2"):
        data.filter_ratings(ds, 3)


def test_drop_duplicates_modes():
    rows = [(1, 7, 10, 5), (1, 7, 10, 5), (1, 7, 30, 4), (1, 8, 20, 5)]
    ds = make(rows)
    exact = data.drop_duplicates(ds, "exact")
    assert exact.interactions["timestamp"].tolist() == [10, 30, 20]
    assert exact.processing[-1].removed_interactions == 1
    first = data.drop_duplicates(ds, "first")
    assert sorted(zip(first.interactions.item_id, first.interactions.timestamp)) == [(7, 10), (8, 20)]
    last = data.drop_duplicates(ds, "last")
    assert sorted(zip(last.interactions.item_id, last.interactions.timestamp)) == [(7, 30), (8, 20)]
    assert data.drop_duplicates(ds, "none").num_interactions == 4
    with pytest.raises(ValueError, match="keep must be one of"):
        data.drop_duplicates(ds, "all")


def test_k_core_is_iterative():
    # k=2. Item 9 has 2 interactions, but one is from user 3 who has only
    # one interaction; after user 3 goes, item 9 drops to 1 and must go
    # too, which in turn leaves user 2 with 1 interaction.
    rows = [
        (1, 1, 1, 5), (1, 2, 2, 5), (1, 3, 3, 5),
        (4, 1, 1, 5), (4, 2, 2, 5), (4, 3, 3, 5),
        (2, 9, 4, 5), (2, 1, 5, 5),
        (3, 9, 6, 5),
    ]
    out = data.k_core(make(rows), 2)
    assert sorted(out.interactions["user_id"].unique()) == [1, 4]
    assert sorted(out.interactions["item_id"].unique()) == [1, 2, 3]
    step = out.processing[-1]
    assert (step.removed_interactions, step.removed_users, step.removed_items) == (3, 2, 1)
    assert step.details["iterations"] >= 3
    # The result really is a 2-core.
    assert out.interactions.groupby("user_id").size().min() >= 2
    assert out.interactions.groupby("item_id").size().min() >= 2


def test_k_core_bad_k():
    with pytest.raises(ValueError, match="k-core thresholds must be >= 1"):
        data.k_core(make([(1, 1, 1, 5)]), 0)


def test_sort_is_stable_on_ties():
    rows = [(1, 5, 20, 5), (1, 3, 10, 5), (1, 4, 10, 5), (2, 1, 5, 5)]
    out = data.sort_chronologically(make(rows))
    # user 1: item 3 and 4 share t=10 and keep their input order.
    assert out.interactions["item_id"].tolist() == [3, 4, 5, 1]


def test_index_ids_sorted_and_reversible():
    items = pd.DataFrame({"item_id": ["b", "a", "zz"], "title": ["B", "A", "unused"]})
    ds = InteractionDataset(
        pd.DataFrame({"user_id": ["u2", "u1", "u2"], "item_id": ["b", "a", "a"], "timestamp": [1, 2, 3]}),
        items=items,
    )
    out = data.index_ids(ds)
    assert out.interactions["item_id"].tolist() == [2, 1, 1]
    assert out.interactions["user_id"].tolist() == [2, 1, 2]
    assert list(out.item_vocab) == [None, "a", "b"]
    assert list(out.user_vocab) == [None, "u1", "u2"]
    assert out.items["item_id"].tolist() == [1, 2]
    assert out.items["title"].tolist() == ["A", "B"]
    assert out.processing[-1].details["metadata_rows_without_interactions"] == 1
    # Indexing twice composes the vocabularies back to the original ids.
    again = data.index_ids(data.filter_ratings(
        out.replace(interactions=out.interactions.assign(rating=[1, 5, 5])), 3))
    assert list(again.item_vocab) == [None, "a"]


def test_index_ids_keeps_movielens_ids(ml100k):
    out = data.index_ids(ml100k)
    assert (out.interactions["item_id"].to_numpy() == ml100k.interactions["item_id"].to_numpy()).all()
    assert out.item_vocab[1682] == 1682


def test_preprocess_ml100k_counts_match_an_independent_computation(ml100k, caplog):
    with caplog.at_level(logging.INFO, logger="rearec_keras"):
        out = data.preprocess(ml100k, rating_threshold=3, k_core=5)
    assert "filter_ratings: removed 44,625 interactions" in caplog.text
    # Independent computation with plain pandas.
    frame = ml100k.interactions
    frame = frame[frame.rating > 3]
    assert len(frame) == (ml100k.interactions.rating >= 4).sum() == 55_375
    while True:
        u = frame.user_id.map(frame.user_id.value_counts())
        i = frame.item_id.map(frame.item_id.value_counts())
        if ((u >= 5) & (i >= 5)).all():
            break
        frame = frame[(u >= 5) & (i >= 5)]
    assert out.num_interactions == len(frame)
    assert out.num_users == frame.user_id.nunique()
    assert out.num_items == frame.item_id.nunique()
    steps = [s.step for s in out.processing]
    assert steps == ["filter_ratings", "drop_duplicates", "k_core", "sort_chronologically", "index_ids"]
    assert out.is_indexed
    assert out.interactions["item_id"].max() == out.num_items
    # Each user's rows are contiguous and chronological.
    inter = out.interactions
    assert (np.diff(inter.user_id.to_numpy()) >= 0).all()
    same_user = np.diff(inter.user_id.to_numpy()) == 0
    assert (np.diff(inter.timestamp.to_numpy())[same_user] >= 0).all()
