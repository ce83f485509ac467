"""`ArrayBatches`: the tf.data-free input pipeline (any Keras backend)."""

import sys

import keras
import numpy as np
import pytest

from rearec_keras.data.batches import ArrayBatches
from rearec_keras.data.pipeline import make_dataset

N = 10
X = np.arange(N * 3, dtype="int32").reshape(N, 3)
Y = np.arange(1, N + 1, dtype="int32")
USERS = np.arange(100, 100 + N)


def epoch(batches):
    xs, ys = zip(*[batches[i] for i in range(len(batches))])
    return np.concatenate(xs), np.concatenate(ys)


def test_every_example_once_in_order_without_shuffle():
    batches = ArrayBatches(X, Y, 4)
    assert len(batches) == batches.num_batches == 3
    assert [len(batches[i][1]) for i in range(3)] == [4, 4, 2]
    x, y = epoch(batches)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)
    assert x.dtype == np.int32 and y.dtype == np.int32
    with pytest.raises(IndexError):
        batches[3]


def test_shuffle_is_seeded_aligned_and_changes_per_epoch():
    batches = ArrayBatches(X, Y, 4, shuffle=True, seed=3)
    x1, y1 = epoch(batches)
    batches.on_epoch_end()
    x2, y2 = epoch(batches)
    assert sorted(y1) == sorted(y2) == list(Y)
    assert list(y1) != list(y2)
    np.testing.assert_array_equal(x1, X[y1 - 1])  # rows stay with their targets
    np.testing.assert_array_equal(epoch(ArrayBatches(X, Y, 4, shuffle=True, seed=3))[1], y1)
    # Direct iteration also reshuffles between passes.
    again = ArrayBatches(X, Y, 4, shuffle=True, seed=3)
    first = np.concatenate([y for _, y in again])
    second = np.concatenate([y for _, y in again])
    np.testing.assert_array_equal(first, y1)
    np.testing.assert_array_equal(second, y2)


def test_drop_remainder_repeat_and_tuple_inputs():
    assert len(ArrayBatches(X, Y, 4, drop_remainder=True)) == 2
    endless = ArrayBatches(X, Y, 4, repeat=True, shuffle=True, seed=0)
    assert endless.num_batches is None
    stream = np.concatenate([endless[i][1] for i in range(6)])  # two epochs
    assert sorted(stream[:10]) == sorted(stream[10:]) == list(Y)
    (x, users), y = ArrayBatches((X, USERS), Y, 4)[0]
    np.testing.assert_array_equal(users, USERS[:4])
    np.testing.assert_array_equal(x, X[:4])
    with pytest.raises(ValueError, match="no batch"):
        ArrayBatches(X, Y, 20, drop_remainder=True)


def test_make_dataset_falls_back_without_tensorflow(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if not installed
    batches = make_dataset((X, USERS), Y, batch_size=4, shuffle=True, seed=0)
    assert isinstance(batches, ArrayBatches) and len(batches) == 3
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(X, Y, batch_size=0)


def test_fit_reads_it():
    from rearec_keras.models import SASRec

    keras.utils.set_random_seed(0)
    model = SASRec(30, max_length=3, hidden_dim=8, num_layers=1, num_heads=1,
                   intermediate_dim=8)
    model.compile(optimizer="adam")
    history = model.fit(ArrayBatches(X, Y, 4, shuffle=True, seed=0), epochs=2,
                        shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))
