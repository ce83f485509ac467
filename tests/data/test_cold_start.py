"""Cold-start split: held-out items never occur in training."""

import numpy as np
import pytest

from rearec_keras.data import hold_out_items
from rearec_keras.data import items_by_train_count
from rearec_keras.data.splits import Split
from rearec_keras.data.splits import SplitPart


def part(name, histories, targets):
    n = len(targets)
    histories = np.asarray(histories, "int32")
    return SplitPart(name, histories, targets, np.arange(1, n + 1), np.arange(n),
                     (histories != 0).sum(1))


def small_split():
    train = part("train", [[0, 1, 2, 3], [0, 0, 2, 2], [0, 0, 0, 5], [4, 1, 5, 2]], [4, 5, 1, 3])
    valid = part("valid", [[1, 2, 3, 4]], [5])
    test = part("test", [[2, 3, 4, 5]], [1])
    return Split(train, valid, test, num_items=6, num_users=4, max_length=4,
                 protocol="leave_one_out", item_vocab=np.arange(7), user_vocab=np.arange(5))


def test_held_out_items_leave_training_histories_and_targets_by_hand():
    split = small_split()
    cold = hold_out_items(split, [5, 2])
    # Row 1 (target 5) and row 2 (history [5] becomes empty) are removed;
    # rows 0 and 3 lose their 2s and 5s, order kept, re-padded.
    np.testing.assert_array_equal(cold.train.histories, [[0, 0, 1, 3], [0, 0, 4, 1]])
    np.testing.assert_array_equal(cold.train.targets, [4, 3])
    np.testing.assert_array_equal(cold.train.history_lengths, [2, 2])
    np.testing.assert_array_equal(cold.train.user_ids, [1, 4])
    step = cold.report[-1]
    assert step["removed_examples"] == 1 and step["removed_examples_empty_history"] == 1
    assert step["removed_history_items"] == 3 and step["cold_valid_targets"] == 1
    assert cold.settings["held_out_items"] == [2, 5]
    # Validation and test are untouched; the input split too.
    np.testing.assert_array_equal(cold.valid.histories, split.valid.histories)
    np.testing.assert_array_equal(cold.test.targets, split.test.targets)
    assert len(split.train) == 4
    held = cold.settings["held_out_items"]
    assert not np.isin(cold.train.histories, held).any()
    assert not np.isin(cold.train.targets, held).any()


def test_fraction_draws_test_targets_reproducibly(ml100k):
    from rearec_keras.data import leave_one_out

    split = leave_one_out(ml100k, max_length=20)
    a = hold_out_items(split, fraction=0.05, seed=1)
    b = hold_out_items(split, fraction=0.05, seed=1)
    held = a.settings["held_out_items"]
    assert held == b.settings["held_out_items"] and len(held) == round(0.05 * 1682)
    assert np.isin(held, split.test.targets).all()
    assert a.train_item_counts()[held].sum() == 0
    removed = a.report[-1]
    assert len(a.train) == len(split.train) - removed["removed_examples"] - removed[
        "removed_examples_empty_history"]


def test_rare_items_by_training_count():
    split = small_split()
    # Train targets: 4, 5, 1, 3 once each; 2 and 6 never.
    np.testing.assert_array_equal(items_by_train_count(split, 0), [2, 6])
    np.testing.assert_array_equal(items_by_train_count(split, 1), [1, 2, 3, 4, 5, 6])


def test_bad_requests_are_named():
    split = small_split()
    with pytest.raises(ValueError, match="item id 9 is outside the catalog 1..6"):
        hold_out_items(split, [1, 9])
    with pytest.raises(ValueError, match="exactly one"):
        hold_out_items(split)
    with pytest.raises(ValueError, match="only 1 distinct"):
        hold_out_items(split, fraction=0.5)
    with pytest.raises(ValueError, match="fraction"):
        hold_out_items(split, fraction=1.0)
