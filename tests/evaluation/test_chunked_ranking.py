"""Item-chunked ranking equals whole-catalog ranking."""

import numpy as np
import pytest
from keras import ops

from rearec_keras import ReaSASRec
from rearec_keras.evaluation import chunked_target_ranks
from rearec_keras.evaluation import compute_ranks
from rearec_keras.evaluation import evaluate
from rearec_keras.evaluation import target_ranks
from rearec_keras.evaluation import evaluator


def np_(x):
    return ops.convert_to_numpy(x)


def test_hand_computed_ranks_with_ties_padding_and_history():
    # Scores u·E for one user: items 1..4 score 0.1, 0.7, 0.7, 0.3; the
    # padding row scores 9 and must never count.
    users = np.array([[1.0, 0.0]], dtype="float32")
    items = np.array([[9.0, 0], [0.1, 0], [0.7, 0], [0.7, 0], [0.3, 0]], dtype="float32")
    for chunk in (1, 2, 3, 10):
        assert np_(chunked_target_ranks(users, items, [2], chunk_size=chunk)).tolist() == [2]
        assert np_(chunked_target_ranks(users, items, [4], chunk_size=chunk)).tolist() == [3]
        ranks = chunked_target_ranks(users, items, [2], histories=[[0, 3]],
                                     exclude_history=True, chunk_size=chunk)
        assert np_(ranks).tolist() == [1]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunks_match_target_ranks_on_random_scores(chunk):
    rng = np.random.default_rng(0)
    users = rng.normal(size=(16, 4)).astype("float32")
    items = rng.normal(size=(101, 4)).astype("float32")
    items[5] = items[9]  # an exact tie between two items
    targets = rng.integers(1, 101, size=16)
    targets[0] = 5
    histories = rng.integers(0, 101, size=(16, 6))
    full = users @ items.T
    for exclude in (False, True):
        expected = np_(target_ranks(full, targets, histories, exclude_history=exclude))
        got = np_(chunked_target_ranks(users, items, targets, histories, exclude, chunk))
        np.testing.assert_array_equal(got, expected)


def test_nan_target_gets_the_worst_rank():
    users = np.array([[np.nan, 1.0]], dtype="float32")
    items = np.ones((6, 2), dtype="float32")
    assert np_(chunked_target_ranks(users, items, [3], chunk_size=2)).tolist() == [5]


@pytest.mark.heavy
def test_compute_ranks_streams_a_model_and_matches(monkeypatch):
    model = ReaSASRec(50, max_length=6, hidden_dim=8, num_layers=1, num_heads=1,
                      intermediate_dim=8, learning="erl")
    model.build((None, 6))
    rng = np.random.default_rng(1)
    histories = rng.integers(1, 51, size=(40, 6)).astype("int32")
    targets = rng.integers(1, 51, size=40).astype("int32")
    whole = compute_ranks(model, (histories, targets), batch_size=16)
    streamed = compute_ranks(model, (histories, targets), batch_size=16, item_chunk_size=7)
    np.testing.assert_array_equal(streamed, whole)
    seen = compute_ranks(model, (histories, targets), exclude_history=True)
    np.testing.assert_array_equal(
        compute_ranks(model, (histories, targets), exclude_history=True, item_chunk_size=9), seen)
    # Large catalogs switch to chunks by themselves.
    calls = []
    real = evaluator.chunked_target_ranks
    monkeypatch.setattr(evaluator, "AUTO_CHUNK_ITEMS", 30)
    monkeypatch.setattr(evaluator, "chunked_target_ranks",
                        lambda *a, **k: calls.append(k["chunk_size"]) or real(*a, **k))
    metrics = evaluate(model, (histories, targets), ks=(10,))
    assert calls and set(calls) == {evaluator.DEFAULT_ITEM_CHUNK}
    assert metrics == evaluate(model, (histories, targets), ks=(10,), item_chunk_size=10**6)


def test_bad_chunk_settings_are_refused():
    model = ReaSASRec(10, max_length=4, hidden_dim=8, num_layers=1, num_heads=1)
    data = (np.ones((2, 4), "int32"), np.ones(2, "int32"))
    with pytest.raises(ValueError, match="item_chunk_size"):
        compute_ranks(model, data, item_chunk_size=0)
    with pytest.raises(ValueError, match="user_vectors"):
        compute_ranks(None, data, score_fn=lambda m, h: np.zeros((2, 11)), item_chunk_size=4)
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_target_ranks(np.ones((1, 2)), np.ones((3, 2)), [1], chunk_size=0)
    with pytest.raises(ValueError, match="outside the catalog"):
        chunked_target_ranks(np.ones((1, 2)), np.ones((3, 2)), [3])
