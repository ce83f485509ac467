import numpy as np
import pandas as pd
import pytest

from rearec_keras.datasets import DataError
from rearec_keras.datasets import InteractionDataset


def frame(**overrides):
    data = {
        "user_id": [1, 1, 2],
        "item_id": [10, 11, 10],
        "timestamp": [100, 200, 150],
        "rating": [5, 3, 4],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def test_valid_dataset_counts():
    ds = InteractionDataset(frame(), name="toy")
    assert (ds.num_users, ds.num_items, ds.num_interactions) == (2, 2, 3)
    assert ds.has_ratings and not ds.is_indexed
    assert "num_users=2" in repr(ds)


def test_string_ids_are_fine():
    ds = InteractionDataset(frame(user_id=["a", "a", "b"], item_id=["x", "y", "x"]))
    assert ds.interactions["user_id"].tolist() == ["a", "a", "b"]


def test_integral_float_ids_become_int64_without_touching_input():
    raw = frame(item_id=[10.0, 11.0, 10.0])
    ds = InteractionDataset(raw)
    assert ds.interactions["item_id"].dtype == np.int64
    assert raw["item_id"].dtype == np.float64  # the caller's frame is unchanged


def test_datetime_timestamps_become_unix_seconds():
    ds = InteractionDataset(
        frame(timestamp=pd.to_datetime(["1970-01-01 00:01:40", "1970-01-01 00:03:20", "1970-01-01 00:02:30"]))
    )
    assert ds.interactions["timestamp"].tolist() == [100, 200, 150]


@pytest.mark.parametrize(
    "bad, message",
    [
        (frame().drop(columns="timestamp"), r"missing required column\(s\) \['timestamp'\]"),
        (frame().rename(columns={"item_id": "movie"}), r"\['item_id'\]; found columns \['user_id', 'movie'"),
        (frame(user_id=[1, -5, 2]), r"'user_id' has negative ids \(e.g. -5\) in 1 row\(s\) \(index 1\)"),
        (frame(item_id=[10.5, 11.0, 10.0]), r"'item_id' has non-integer ids \(e.g. 10.5\)"),
        (frame(item_id=[10.0, -1.0, 10.0]), r"'item_id' has negative ids"),
        (frame(item_id=[10, None, 10]), r"'item_id' has missing ids in 1 row\(s\) \(index 1\)"),
        (frame(item_id=["a", 3, "b"]), r"'item_id' mixes strings with int"),
        (frame(user_id=["a", " ", "b"]), r"'user_id' has empty-string ids"),
        (frame(user_id=[True, False, True]), r"'user_id' holds booleans"),
        (frame(timestamp=[100, np.nan, 150]), r"'timestamp' has NaN values in 1 row\(s\) \(index 1\)"),
        (frame(timestamp=["100", "noon", "150"]), r"'timestamp' has non-numeric values \(e.g. 'noon'\)"),
        (frame(timestamp=[100, np.inf, 150]), r"'timestamp' has infinite values"),
        (frame(timestamp=pd.to_datetime(["2020-01-01", None, "2020-01-02"])), r"missing \(NaT\)"),
        (frame(rating=[5, None, 4]), r"'rating' has missing or non-numeric values"),
    ],
)
def test_bad_interactions(bad, message):
    with pytest.raises(DataError, match=message):
        InteractionDataset(bad, name="toy")


def test_error_names_the_source():
    with pytest.raises(DataError, match="^my-data: "):
        InteractionDataset(frame(user_id=[1, -1, 2]), name="my-data")


def test_not_a_dataframe():
    with pytest.raises(DataError, match="must be a pandas DataFrame, got dict"):
        InteractionDataset({"user_id": [1]})


def test_bad_item_metadata():
    with pytest.raises(DataError, match="no 'item_id' column"):
        InteractionDataset(frame(), items=pd.DataFrame({"title": ["x"]}))
    with pytest.raises(DataError, match="lists item id 10 more than once"):
        InteractionDataset(frame(), items=pd.DataFrame({"item_id": [10, 10], "title": ["a", "b"]}))
