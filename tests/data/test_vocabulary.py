"""`Vocabulary`: the dataset's own item/user ids and titles of a model."""

import numpy as np
import pandas as pd
import pytest

from rearec_keras.data import Vocabulary
from rearec_keras.data import leave_one_out
from rearec_keras.datasets.dataset import InteractionDataset


def test_raw_ids_round_trip_and_histories_are_left_padded():
    vocab = Vocabulary(("b7", "a1", "c3"), users=("u1", "u2"), titles=("Bee", None, "Sea"))
    assert vocab.id_type == "str" and vocab.num_items == 3
    np.testing.assert_array_equal(vocab.item_index([["a1", "c3"], ["b7", "b7"]]), [[2, 3], [1, 1]])
    np.testing.assert_array_equal(vocab.item_ids(np.array([[3, 1]])), [["c3", "b7"]])
    assert list(vocab.titles_of([1, 2, 3])) == ["Bee", None, "Sea"]
    assert list(vocab.titles_of_raw(["c3"])) == ["Sea"]
    h = vocab.histories([["a1"], ["b7", "a1", "c3", "a1"]], max_length=3)
    np.testing.assert_array_equal(h, [[0, 0, 2], [2, 3, 2]])  # newest 3 kept
    assert h.dtype == np.int32
    assert vocab.user_index("u2") == 2


def test_integer_ids_compare_as_text_and_come_back_as_integers():
    vocab = Vocabulary((np.int64(50), 172, 7))
    assert vocab.id_type == "int"
    np.testing.assert_array_equal(vocab.item_index([50, "172", np.int32(7)]), [1, 2, 3])
    out = vocab.item_ids([[2, 3]])
    assert out.dtype == np.int64 and out.tolist() == [[172, 7]]


def test_bad_ids_are_named_and_nothing_is_padded_silently():
    vocab = Vocabulary(("a", "b"), users=("u",))
    with pytest.raises(ValueError, match=r"unknown item id\(s\) 'zzz', 'q'"):
        vocab.item_index(["a", "zzz", "q", "zzz"])
    with pytest.raises(ValueError, match="history 1 is empty"):
        vocab.histories([["a"], []], max_length=4)
    with pytest.raises(ValueError, match="list of lists"):
        vocab.histories("ab", max_length=4)
    with pytest.raises(ValueError, match=r"internal item ids must be in 1\.\.2"):
        vocab.item_ids([0, 1])
    with pytest.raises(ValueError, match="unknown user id 'v'"):
        vocab.user_index("v")
    with pytest.raises(ValueError, match="repeats the id"):
        Vocabulary(("1", 1))


def test_from_split_save_and_load(tmp_path):
    frame = pd.DataFrame({
        "user_id": ["u1"] * 4 + ["u2"] * 4,
        "item_id": [30, 10, 20, 10, 20, 30, 10, 20],
        "timestamp": list(range(8)),
    })
    items = pd.DataFrame({"item_id": [10, 20], "title": ["Ten", "Twenty"]})
    split = leave_one_out(InteractionDataset(frame, items=items), max_length=5)
    vocab = Vocabulary.from_split(split)
    assert sorted(vocab.items) == [10, 20, 30] and vocab.id_type == "int"
    # item i's title is the title of its raw id
    for i, raw in enumerate(vocab.items, start=1):
        expected = {10: "Ten", 20: "Twenty"}.get(raw)
        assert vocab.titles_of([i])[0] == expected
    assert sorted(vocab.users) == ["u1", "u2"]
    vocab.save(tmp_path)
    again = Vocabulary.load(tmp_path)
    assert again == vocab and again.id_type == "int"
    assert Vocabulary.load(tmp_path / "none") is None
    (tmp_path / "vocabulary.json").write_text('{"format": "rearec_keras.vocabulary/1"}')
    with pytest.raises(ValueError, match="vocabulary.json is malformed"):
        Vocabulary.load(tmp_path)
    (tmp_path / "vocabulary.json").write_text("{broken")
    with pytest.raises(ValueError, match="vocabulary.json is unreadable"):
        Vocabulary.load(tmp_path)
