import numpy as np
import pytest

from rearec_keras import data
from rearec_keras.data.pipeline import make_dataset


def part(n=10, length=4):
    rng = np.random.default_rng(0)
    return data.SplitPart(
        "train",
        rng.integers(0, 20, size=(n, length)),
        np.arange(1, n + 1),
        np.arange(n) % 3 + 1,
        np.arange(n),
        np.full(n, length),
    )


def collect(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return np.concatenate(xs), np.concatenate(ys)


def test_every_example_once_per_epoch_in_order_without_shuffle():
    p = part()
    x, y = collect(p.as_dataset(3))
    np.testing.assert_array_equal(y, p.targets)
    np.testing.assert_array_equal(x, p.histories)


def test_shuffle_is_a_seeded_permutation_that_changes_per_epoch():
    p = part(50)
    ds = p.as_dataset(8, shuffle=True, seed=3)
    x1, y1 = collect(ds)
    x2, y2 = collect(ds)
    assert sorted(y1) == sorted(y2) == list(p.targets)
    assert list(y1) != list(y2)  # reshuffled each epoch
    # histories stay aligned with their targets
    np.testing.assert_array_equal(x1, p.histories[y1 - 1])
    y1_again = collect(p.as_dataset(8, shuffle=True, seed=3))[1]
    np.testing.assert_array_equal(y1, y1_again)


def test_batching_options():
    p = part(10)
    sizes = [len(y) for _, y in p.as_dataset(4)]
    assert sizes == [4, 4, 2]
    sizes = [len(y) for _, y in p.as_dataset(4, drop_remainder=True)]
    assert sizes == [4, 4]
    assert p.as_dataset(4).cardinality().numpy() == 3
    repeated = p.as_dataset(4, repeat=True).take(7)
    assert sum(1 for _ in repeated) == 7
    (x, users), y = next(iter(p.as_dataset(4, with_user_ids=True)))
    np.testing.assert_array_equal(users, p.user_ids[:4])
    assert x.dtype.name == "int32" and y.dtype.name == "int32"


def test_tf_data_autotuner_is_off():
    # With the autotuner on, one-thread training slept about half of its wall
    # time (benchmarks/training_throughput.py); the pipeline is fixed-size.
    ds = part(10).as_dataset(4, shuffle=True, seed=0)
    assert ds.options().autotune.enabled is False


def test_bad_pipeline_arguments():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        part().as_dataset(0)
    with pytest.raises(ValueError, match="inputs have 3 rows but targets have 2"):
        make_dataset(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="0 examples"):
        make_dataset(np.zeros((0, 2)), np.zeros(0))


def test_split_part_shape_checks():
    with pytest.raises(ValueError, match="histories must be 2-D"):
        data.SplitPart("x", np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"targets has shape \(2,\), expected \(3,\)"):
        data.SplitPart("x", np.zeros((3, 2)), np.zeros(2), np.zeros(3), np.zeros(3), np.zeros(3))


def test_subset():
    p = part(10)
    sub = p.subset(p.user_ids == 1)
    assert len(sub) == 4 and (sub.user_ids == 1).all()


def test_model_fit_on_real_split(ml100k):
    import keras

    keras.utils.set_random_seed(0)
    split = data.leave_one_out(ml100k, max_length=20)
    model = keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            keras.layers.Embedding(split.num_items + 1, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(split.num_items + 1),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train = split.train.subset(np.arange(2048))
    history = model.fit(train.as_dataset(256, shuffle=True, seed=0), epochs=2, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert losses[1] < losses[0]
