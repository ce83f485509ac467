import numpy as np
import pandas as pd
import pytest

from rearec_keras import data
from rearec_keras.datasets import DataError
from rearec_keras.datasets import InteractionDataset


def make(rows, unit=None, **extra):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    for k, v in extra.items():
        frame[k] = v
    return InteractionDataset(frame, name="toy", timestamp_unit=unit)


# Raw item ids 10 < 20 < 30 < 40 < 50 become 1..5.
TOY = [
    ("a", 10, 1), ("a", 20, 2), ("a", 30, 3), ("a", 40, 4), ("a", 50, 5),
    ("b", 30, 1), ("b", 10, 2), ("b", 20, 3),
]


def test_leave_one_out_by_hand():
    split = data.leave_one_out(make(TOY), max_length=3)
    assert split.num_items == 5 and split.num_users == 2
    assert list(split.item_vocab) == [None, 10, 20, 30, 40, 50]
    assert list(split.user_vocab) == [None, "a", "b"]
    # Test: user a -> 50 after [20,30,40] (truncated to 3), user b -> 20 after [0,30,10].
    np.testing.assert_array_equal(split.test.histories, [[2, 3, 4], [0, 3, 1]])
    np.testing.assert_array_equal(split.test.targets, [5, 2])
    np.testing.assert_array_equal(split.test.user_ids, [1, 2])
    np.testing.assert_array_equal(split.test.history_lengths, [4, 2])
    # Valid: a -> 40 after [10,20,30]; b -> 10 after [0,0,30].
    np.testing.assert_array_equal(split.valid.histories, [[1, 2, 3], [0, 0, 3]])
    np.testing.assert_array_equal(split.valid.targets, [4, 1])
    # Train: a -> 20 after [10], a -> 30 after [10,20]; b has none left
    # (its first item has no history).
    np.testing.assert_array_equal(split.train.histories, [[0, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(split.train.targets, [2, 3])
    np.testing.assert_array_equal(split.train.timestamps, [2, 3])
    assert split.train.histories.dtype == np.int32 and split.train.targets.dtype == np.int32
    assert split.report[-1] == {
        "step": "train_min_history",
        "reason": "train targets with fewer than 1 history item(s)",
        "removed_examples": 2,
    }


def test_min_history_per_part():
    split = data.leave_one_out(make(TOY), max_length=3, min_history={"train": 2})
    np.testing.assert_array_equal(split.train.targets, [3])
    with pytest.raises(DataError, match="leaves no train examples"):
        data.leave_one_out(make(TOY), max_length=3, min_history=3)


def test_ties_keep_file_order():
    rows = [("a", 10, 1), ("a", 30, 2), ("a", 20, 2), ("a", 40, 3)]
    split = data.leave_one_out(make(rows), max_length=3)
    np.testing.assert_array_equal(split.test.histories, [[1, 3, 2]])
    np.testing.assert_array_equal(split.valid.targets, [2])  # 20, listed after 30


def test_short_users_raise_or_drop():
    rows = TOY + [("c", 10, 1), ("c", 20, 2)]
    with pytest.raises(DataError, match=r"1 user\(s\) have fewer than 3 interactions.*'c' \(2\)"):
        data.leave_one_out(make(rows))
    split = data.leave_one_out(make(rows), short_users="drop")
    assert split.num_users == 2 and len(split.test) == 2
    assert split.report[-2]["step"] == "drop_short_users"
    assert split.report[-2]["removed_interactions"] == 2
    assert split.report[-2]["removed_users"] == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_length": 0}, "max_length must be a positive integer"),
        ({"max_length": 2.5}, "max_length must be a positive integer"),
        ({"min_history": 0}, "min_history for 'train' must be an integer >= 1"),
        ({"min_history": {"tset": 2}}, r"unknown split name\(s\) \['tset'\]"),
        ({"short_users": "ignore"}, "short_users must be 'raise' or 'drop'"),
    ],
)
def test_bad_split_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.leave_one_out(make(TOY), **kwargs)


def test_leave_one_out_real_ml100k(ml100k):
    split = data.leave_one_out(ml100k, max_length=50)
    assert len(split.valid) == 943 and len(split.test) == 943
    assert len(split.train) == 100_000 - 3 * 943
    assert split.num_items == 1682 and split.num_users == 943
    assert split.train.histories.shape == (97_171, 50)
    # Independent oracle: plain Python per user, on the raw interactions.
    frame = ml100k.interactions.reset_index(drop=True)
    order = frame.sort_values(["user_id", "timestamp"], kind="stable")
    sequences = order.groupby("user_id", sort=True)["item_id"].apply(list)
    for row, (user, seq) in enumerate(sequences.items()):
        assert split.test.user_ids[row] == user
        assert split.test.targets[row] == seq[-1]
        assert split.valid.targets[row] == seq[-2]
        expected = seq[:-1][-50:]
        expected = [0] * (50 - len(expected)) + expected
        assert split.test.histories[row].tolist() == expected
        assert split.test.history_lengths[row] == len(seq) - 1
        # The test history ends with the validation target.
        assert split.test.histories[row, -1] == split.valid.targets[row]
    # Train examples: one per interaction except the first and last two.
    counts = np.bincount(split.train.user_ids, minlength=944)[1:]
    np.testing.assert_array_equal(counts, sequences.map(len).to_numpy() - 3)
    # Left padding: once a real item appears, no padding follows.
    h = split.train.histories
    first_real = np.argmax(h > 0, axis=1)
    cols = np.arange(50)[None, :]
    assert ((h > 0) == (cols >= first_real[:, None])).all()
    assert split.items is not None and len(split.items) == 1682
    assert split.train_item_counts().sum() == len(split.train)
    assert split.train_item_counts()[0] == 0


def test_temporal_split_by_hand():
    rows = [
        ("a", 10, 1), ("a", 20, 2), ("a", 30, 5), ("a", 40, 8),
        ("b", 20, 1), ("b", 30, 3), ("b", 50, 6), ("b", 60, 9),
    ]
    split = data.temporal_split(make(rows), valid_start=5, test_start=8, max_length=2, cold_items="keep")
    # train: targets with t < 5 and >=1 history item: a:20 (t2), b:30 (t3)
    np.testing.assert_array_equal(split.train.targets, [2, 3])
    # valid (5 <= t < 8): a:30 after [10,20], b:50 after [20,30]
    np.testing.assert_array_equal(split.valid.histories, [[1, 2], [2, 3]])
    np.testing.assert_array_equal(split.valid.targets, [3, 5])
    # test (t >= 8): a:40 after [20,30]; b:60 after [30,50]; histories cross the cut.
    np.testing.assert_array_equal(split.test.histories, [[2, 3], [3, 5]])
    np.testing.assert_array_equal(split.test.targets, [4, 6])
    assert split.num_items == 6


def test_temporal_split_drops_cold_items_and_remaps():
    rows = [
        ("a", 10, 1), ("a", 20, 2), ("a", 30, 5), ("a", 40, 8),
        ("b", 20, 1), ("b", 30, 3), ("b", 50, 6), ("b", 60, 9),
        ("c", 10, 1), ("c", 20, 2), ("c", 50, 7), ("c", 30, 9),
        ("d", 10, 1), ("d", 20, 2), ("d", 30, 9),
    ]
    split = data.temporal_split(make(rows), valid_start=5, test_start=8, max_length=2)
    # Train rows (t < 5) see items 10, 20, 30 only: the catalog is 1..3.
    assert split.num_items == 3
    assert list(split.item_vocab) == [None, 10, 20, 30]
    # valid: a:30 kept; b:50 and c:50 have a cold target.
    np.testing.assert_array_equal(split.valid.targets, [3])
    # test: a:40 and b:60 cold targets; c:30 has item 50 in its visible
    # history; d:30 after [10, 20] is kept.
    np.testing.assert_array_equal(split.test.targets, [3])
    np.testing.assert_array_equal(split.test.histories, [[1, 2]])
    reasons = {(r["step"], r["reason"]): r.get("removed_examples") for r in split.report}
    assert reasons[("valid_cold_items", "valid rows whose target is an item never seen in training rows")] == 2
    assert reasons[("test_cold_items", "test rows whose target is an item never seen in training rows")] == 2
    assert reasons[("test_cold_items", "test rows whose visible history holds an item never seen in training rows")] == 1
    assert split.report[-1]["removed_items"] == 3
    kept = data.temporal_split(make(rows), valid_start=5, test_start=8, max_length=2, cold_items="keep")
    assert kept.num_items == 6
    np.testing.assert_array_equal(kept.test.targets, [4, 6, 3, 3])
    np.testing.assert_array_equal(kept.test.histories[2], [2, 5])
    # Only the visible window counts: with max_length=1, c:30 sees [50] (cold)
    # and d:30 sees [20]; b:60 sees [50].
    short = data.temporal_split(make(rows), valid_start=5, test_start=8, max_length=1)
    np.testing.assert_array_equal(short.test.histories, [[2]])


def test_temporal_split_empty_test_is_an_error():
    rows = [("a", 10, 1), ("a", 20, 2), ("a", 30, 5), ("a", 40, 8)]
    with pytest.raises(DataError, match="leaves no test examples.*'test_start': 100"):
        data.temporal_split(make(rows), valid_start=5, test_start=100, cold_items="keep")
    # The paper's cold-item rule empties validation here: 30 is unseen in training.
    with pytest.raises(DataError, match="leaves no valid examples"):
        data.temporal_split(make(rows), valid_start=5, test_start=8)


def test_temporal_span_fractions_and_dates():
    rows = [("a", i, t) for i, t in zip(range(1, 12), range(0, 110, 10))]
    by_fraction = data.temporal_split(make(rows), span_fractions=(0.8, 0.9), cold_items="keep")
    assert by_fraction.settings["valid_start"] == 80 and by_fraction.settings["test_start"] == 90
    np.testing.assert_array_equal(by_fraction.valid.targets, [9])
    np.testing.assert_array_equal(by_fraction.test.targets, [10, 11])
    dated = data.temporal_split(
        make(rows, unit="s"), "1970-01-01 00:01:20", "1970-01-01 00:01:30", cold_items="keep"
    )
    np.testing.assert_array_equal(dated.test.targets, by_fraction.test.targets)
    with pytest.raises(ValueError, match="timestamps have no known unit"):
        data.temporal_split(make(rows), "1970-01-01", "1970-01-02")
    with pytest.raises(ValueError, match="must be before test_start"):
        data.temporal_split(make(rows), 90, 80)
    with pytest.raises(ValueError, match="0 < valid < test < 1"):
        data.temporal_split(make(rows), span_fractions=(0.9, 0.8))
    with pytest.raises(ValueError, match="either valid_start/test_start or span_fractions"):
        data.temporal_split(make(rows), 1, 2, span_fractions=(0.8, 0.9))
    with pytest.raises(ValueError, match="needs valid_start and test_start"):
        data.temporal_split(make(rows))


def test_predefined_split_uses_history_column():
    rows = [("u1", "B", 3), ("u1", "C", 4), ("u2", "C", 5), ("u2", "D", 6)]
    histories = [("A",), ("A", "B"), ("B",), ("B", "X", "C")]
    ds = make(rows, split=["train", "train", "valid", "test"], history=histories)
    split = data.predefined_split(ds, max_length=2, cold_items="keep")
    assert list(split.item_vocab) == [None, "A", "B", "C", "D", "X"]
    np.testing.assert_array_equal(split.train.histories, [[0, 1], [1, 2]])
    np.testing.assert_array_equal(split.valid.histories, [[0, 2]])
    np.testing.assert_array_equal(split.test.histories, [[5, 3]])
    np.testing.assert_array_equal(split.test.history_lengths, [3])
    # With the paper's cold-item rule, 'D' (test target) and 'X' are unseen.
    with pytest.raises(DataError, match="leaves no test examples"):
        data.predefined_split(ds, max_length=2)


def test_predefined_split_without_history_column():
    rows = [("u1", 1, 1), ("u1", 2, 2), ("u1", 3, 3), ("u1", 2, 4)]
    ds = make(rows, split=["train", "train", "valid", "test"])
    split = data.predefined_split(ds, max_length=3, cold_items="keep")
    np.testing.assert_array_equal(split.test.histories, [[1, 2, 3]])
    np.testing.assert_array_equal(split.test.targets, [2])


def test_predefined_split_bad_labels():
    ds = make([("u", 1, 1)], split=["training"])
    with pytest.raises(DataError, match=r"must hold \['train', 'valid', 'test'\]; found \['training'\]"):
        data.predefined_split(ds)
    with pytest.raises(DataError, match="needs a 'split' column"):
        data.predefined_split(make([("u", 1, 1)]))


def test_amazon_official_files_through_predefined_split(fixtures_dir):
    from rearec_keras.datasets import load_amazon_reviews_2023

    raw = load_amazon_reviews_2023(fixtures_dir / "amazon", "Video_Games")
    # The paper: drop rows rated <= 3 as targets; histories stay as given
    # (they may hold low-rated items such as B01N5KD2BJ here).
    positives = data.filter_ratings(raw, 3)
    split = data.predefined_split(positives, max_length=3, cold_items="keep")
    assert list(split.item_vocab) == [
        None, "B00ZS80PC2", "B01N5KD2BJ", "B07PPHHTGL", "B07X3PJ7TF", "B09VCFKT3D", "B0B6GXGK5D",
    ]
    np.testing.assert_array_equal(split.train.histories, [[0, 0, 4]])
    np.testing.assert_array_equal(split.train.targets, [1])
    np.testing.assert_array_equal(split.valid.histories, [[4, 1, 3]])
    np.testing.assert_array_equal(split.valid.targets, [5])
    np.testing.assert_array_equal(split.test.histories, [[1, 3, 5], [0, 3, 2]])
    np.testing.assert_array_equal(split.test.history_lengths, [4, 2])
    np.testing.assert_array_equal(split.test.targets, [6, 6])
    # The paper's cold-item rule: B09VCFKT3D never occurs in training rows.
    with pytest.raises(DataError, match="leaves no valid examples"):
        data.predefined_split(positives, max_length=3)
