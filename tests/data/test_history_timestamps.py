"""History timestamps: built by every split protocol aligned with the
histories, kept through subsets and cold-start, fed as model inputs."""

import numpy as np
import pandas as pd
import pytest

from rearec_keras import data
from rearec_keras.data.batches import ArrayBatches
from rearec_keras.data.batches import PositiveBatches
from rearec_keras.datasets import InteractionDataset


def make(rows, **extra):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    for k, v in extra.items():
        frame[k] = v
    return InteractionDataset(frame, name="toy")


# Raw item ids 10 < 20 < ... < 50 become 1..5; times are distinct per row.
TOY = [
    ("a", 10, 100), ("a", 20, 200), ("a", 30, 300), ("a", 40, 400), ("a", 50, 500),
    ("b", 30, 1_000), ("b", 10, 2_000), ("b", 20, 3_000),
]


class _Timed:
    uses_timestamps = True


class _Plain:
    uses_timestamps = False


def test_leave_one_out_history_timestamps_by_hand():
    split = data.leave_one_out(make(TOY), max_length=3)
    # Test: a -> 50 after [20, 30, 40] (truncated), b -> 20 after [pad, 30, 10].
    np.testing.assert_array_equal(split.test.histories, [[2, 3, 4], [0, 3, 1]])
    np.testing.assert_array_equal(split.test.history_timestamps,
                                  [[200, 300, 400], [0, 1_000, 2_000]])
    np.testing.assert_array_equal(split.valid.history_timestamps,
                                  [[100, 200, 300], [0, 0, 1_000]])
    np.testing.assert_array_equal(split.train.history_timestamps, [[0, 0, 100], [0, 100, 200]])
    assert split.test.history_timestamps.dtype == np.int64
    assert data.TIMESTAMP_PADDING == 0
    # The newest history item's time is just before the target's.
    assert (split.test.history_timestamps[:, -1] < split.test.timestamps).all()


def test_input_order_does_not_matter_history_follows_time():
    shuffled = [TOY[i] for i in (4, 7, 0, 2, 5, 1, 6, 3)]
    a = data.leave_one_out(make(TOY), max_length=3)
    b = data.leave_one_out(make(shuffled), max_length=3)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.history_timestamps, pb.history_timestamps)
    assert a.timestamps_fingerprint() == b.timestamps_fingerprint()


def test_temporal_split_history_timestamps_cross_the_cut():
    split = data.temporal_split(make(TOY), valid_start=350, test_start=450, max_length=4,
                                cold_items="keep")
    # Test rows: a -> 50 at 500 after [10, 20, 30, 40]; b -> 10 at 2000
    # after [30]; b -> 20 at 3000 after [30, 10].
    np.testing.assert_array_equal(split.test.histories, [[1, 2, 3, 4], [0, 0, 0, 3],
                                                         [0, 0, 3, 1]])
    np.testing.assert_array_equal(split.test.history_timestamps,
                                  [[100, 200, 300, 400], [0, 0, 0, 1_000], [0, 0, 1_000, 2_000]])
    # Every part: real slots hold times, padding slots 0, row by row aligned.
    for part in split:
        assert ((part.histories == 0) == (part.history_timestamps == 0)).all()


def test_cold_item_drop_keeps_rows_aligned():
    rows = [("a", 10, 1), ("a", 20, 2), ("a", 30, 3), ("a", 20, 11), ("a", 50, 21),
            ("b", 30, 1), ("b", 10, 2), ("b", 20, 12), ("b", 10, 22),
            ("c", 10, 4), ("c", 60, 13), ("c", 20, 23)]
    split = data.temporal_split(make(rows), valid_start=10, test_start=20, max_length=3,
                                duplicates="none")
    # Dropped: a's test (50 unseen), c's valid (60) and test (60 in its history).
    np.testing.assert_array_equal(split.valid.histories, [[1, 2, 3], [0, 3, 1]])
    np.testing.assert_array_equal(split.valid.history_timestamps, [[1, 2, 3], [0, 1, 2]])
    np.testing.assert_array_equal(split.test.histories, [[3, 1, 2]])
    np.testing.assert_array_equal(split.test.history_timestamps, [[1, 2, 12]])


def test_predefined_split_without_history_column_has_times():
    labels = ["train", "train", "train", "valid", "test", "train", "valid", "test"]
    split = data.predefined_split(make(TOY, split=labels), max_length=3, cold_items="keep")
    np.testing.assert_array_equal(split.test.history_timestamps,
                                  [[200, 300, 400], [0, 1_000, 2_000]])


def test_predefined_split_with_a_history_column_cannot_know_times():
    rows = [("a", 30, 3, "train", (10, 20)), ("a", 40, 4, "valid", (10, 20, 30)),
            ("a", 50, 5, "test", (10, 20, 30, 40))]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "split", "history"])
    split = data.predefined_split(InteractionDataset(frame, name="amz"), max_length=3,
                                  cold_items="keep")
    assert all(part.history_timestamps is None for part in split)
    assert split.timestamps_fingerprint() is None
    assert split.statistics()["timestamps_fingerprint"] is None
    assert "history_timestamps=None" in repr(split.test)
    with pytest.raises(ValueError, match=r"reads the history items' timestamps, but the 'train' "
                                         r"part has none \(history_timestamps is None"):
        split.train.for_model(_Timed())
    with pytest.raises(ValueError, match="'test' part has none"):
        split.test.as_dataset(2, timestamps=True)
    assert split.train.for_model(_Plain()) is split.train


def test_subset_statistics_and_repr():
    split = data.leave_one_out(make(TOY), max_length=3)
    sub = split.test.subset([1])
    np.testing.assert_array_equal(sub.history_timestamps, [[0, 1_000, 2_000]])
    assert repr(split.test) == "SplitPart(name='test', examples=2, max_length=3)"
    stats = split.statistics()
    assert len(stats["timestamps_fingerprint"]) == 64
    # The data fingerprint is unchanged by timestamps (old runs keep theirs);
    # the timestamps have their own.
    later = [(u, i, t + 1) if (u, i) == ("a", 20) else (u, i, t) for u, i, t in TOY]
    other = data.leave_one_out(make(later), max_length=3)
    assert other.fingerprint() == split.fingerprint()
    assert other.timestamps_fingerprint() != split.timestamps_fingerprint()


def test_hand_made_parts_still_work_and_shapes_are_checked():
    part = data.SplitPart("x", np.ones((3, 2)), np.ones(3), np.ones(3), np.arange(3), np.ones(3))
    assert part.history_timestamps is None and part.timestamp_inputs is False
    with pytest.raises(ValueError, match=r"history_timestamps has shape \(3, 1\), expected "
                                         r"\(3, 2\)"):
        data.SplitPart("x", np.ones((3, 2)), np.ones(3), np.ones(3), np.arange(3), np.ones(3),
                       history_timestamps=np.ones((3, 1)))


def test_model_inputs_and_dataset_batches_are_dicts_only_for_a_timed_model():
    split = data.leave_one_out(make(TOY), max_length=3)
    part = split.train
    # A model without a time bias: exactly the batches of before.
    plain = part.for_model(_Plain())
    x, y = next(iter(plain.as_dataset(8)))
    np.testing.assert_array_equal(np.asarray(x), part.histories)
    assert isinstance(plain.model_inputs(), np.ndarray)
    # A model with a time bias: {"histories", "timestamps"}, row-relative.
    timed = part.for_model(_Timed())
    assert timed.timestamp_inputs and timed.subset([0]).timestamp_inputs
    x, y = next(iter(timed.as_dataset(8)))
    assert set(x) == {"histories", "timestamps"}
    np.testing.assert_array_equal(np.asarray(x["histories"]), part.histories)
    np.testing.assert_array_equal(np.asarray(x["timestamps"]), [[-100, -100, 0], [-200, -100, 0]])
    assert np.asarray(x["timestamps"]).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(y), part.targets)
    inputs = timed.model_inputs([1])
    np.testing.assert_array_equal(inputs["timestamps"], [[-200, -100, 0]])


def test_shuffled_dict_batches_stay_aligned():
    n = 40
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.integers(1, 100, size=(n, 4)), axis=1)
    part = data.SplitPart("train", np.arange(1, n * 4 + 1).reshape(n, 4), np.arange(1, n + 1),
                          np.ones(n), times[:, -1] + 1, np.full(n, 4), history_timestamps=times,
                          timestamp_inputs=True)
    expected = data.relative_timestamps(times)
    for batches in (part.as_dataset(8, shuffle=True, seed=1),
                    ArrayBatches(part.model_inputs(), part.targets, 8, shuffle=True, seed=1)):
        for x, y in batches:
            rows = np.asarray(y) - 1
            np.testing.assert_array_equal(np.asarray(x["histories"]), part.histories[rows])
            np.testing.assert_array_equal(np.asarray(x["timestamps"]), expected[rows])


def test_relative_timestamps_keep_millisecond_gaps_exact():
    ms = np.array([[0, 1_700_000_000_123, 1_700_000_000_456]], dtype=np.int64)
    relative = data.relative_timestamps(ms)
    assert relative.dtype == np.float32
    np.testing.assert_array_equal(relative[:, 1:], [[-333, 0]])  # float32 of the epochs: -256
    with pytest.raises(ValueError, match="2-D"):
        data.relative_timestamps(np.arange(3))


def test_left_pad_timestamps():
    out = data.left_pad_timestamps([[5, 6], [1, 2, 3, 4]], 3, lengths=[2, 4])
    np.testing.assert_array_equal(out, [[0, 5, 6], [2, 3, 4]])
    with pytest.raises(ValueError, match="row 1 has 3 value"):
        data.left_pad_timestamps([[5, 6], [1, 2, 3]], 3, lengths=[2, 4])
    with pytest.raises(ValueError, match="whole numbers"):
        data.left_pad_timestamps([[5.5]], 3)


def test_cold_start_moves_timestamps_with_their_items():
    split = data.leave_one_out(make(TOY), max_length=3)
    held = data.hold_out_items(split, items=[1])  # item 10 leaves the training histories
    np.testing.assert_array_equal(held.train.histories, [[0, 0, 2]])
    np.testing.assert_array_equal(held.train.history_timestamps, [[0, 0, 200]])
    assert held.train.num_items == split.num_items


def test_positive_batches_refuse_timestamp_inputs():
    split = data.leave_one_out(make(TOY), max_length=3)
    with pytest.raises(ValueError, match="LARES.*carry no timestamps"):
        PositiveBatches(split.train.for_model(_Timed()), 2)
