import numpy as np
import pytest

from rearec_keras.datasets import DataError
from rearec_keras.datasets import load_recbole_atomic
from rearec_keras.datasets import read_atomic_file


def test_read_typed_fields(fixtures_dir):
    frame = read_atomic_file(str(fixtures_dir / "recbole" / "toy" / "toy.item"))
    assert list(frame.columns) == ["iid", "name", "price", "vec"]
    assert frame["iid"].tolist() == ["i7", "i9"]
    assert frame["name"].tolist() == [("The", "Seventh", "Seal"), ("Nine",)]
    assert frame["price"].tolist() == [9.5, 3.0]
    assert frame["vec"].tolist() == [(0.1, 0.2), (1.0, 2.0)]


def test_numeric_tokens_become_integers(tmp_path):
    path = tmp_path / "n.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t10\t5\n2\t007\t6\n")
    frame = read_atomic_file(str(path))
    assert frame["user_id"].dtype == np.int64
    # "007" is not canonical, so the column keeps its string tokens.
    assert frame["item_id"].tolist() == ["10", "007"]
    assert frame["timestamp"].dtype == np.int64


def test_load_with_column_mapping(fixtures_dir):
    ds = load_recbole_atomic(
        str(fixtures_dir / "recbole" / "toy"),
        columns={"uid": "user_id", "iid": "item_id", "ts": "timestamp"},
    )
    assert ds.name == "toy"
    assert ds.num_interactions == 3 and ds.num_users == 2 and ds.num_items == 2
    inter = ds.interactions
    assert inter["rating"].tolist() == [4.0, 5.0, 3.5]
    assert inter["timestamp"].tolist() == [100, 200, 150]
    assert "label" in inter.columns  # unmapped fields are kept
    assert ds.items.set_index("item_id").loc["i7", "price"] == 9.5


def test_load_inter_file_path(fixtures_dir):
    ds = load_recbole_atomic(
        str(fixtures_dir / "recbole" / "toy" / "toy.inter"),
        columns={"uid": "user_id", "iid": "item_id", "ts": "timestamp"},
        metadata=False,
    )
    assert ds.items is None and ds.num_interactions == 3


def test_missing_fields_are_named(fixtures_dir):
    with pytest.raises(DataError, match=r"missing field\(s\) \['user_id', 'item_id', 'timestamp'\]"):
        load_recbole_atomic(str(fixtures_dir / "recbole" / "toy"))


def test_bad_mapping_target(fixtures_dir):
    with pytest.raises(ValueError, match="unknown names \\['uid2'\\]"):
        load_recbole_atomic(str(fixtures_dir / "recbole" / "toy"), columns={"uid": "uid2"})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected 'x.inter'"):
        load_recbole_atomic(str(tmp_path), "x")


def test_header_without_types(tmp_path):
    path = tmp_path / "bad.inter"
    path.write_text("user_id\titem_id\n1\t2\n")
    with pytest.raises(DataError, match="header field 'user_id' is not 'name:type'"):
        read_atomic_file(str(path))


def test_wrong_field_count_names_line(tmp_path):
    path = tmp_path / "bad.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n1\t2\n")
    with pytest.raises(DataError, match="line 3: expected 3 tab-separated fields"):
        read_atomic_file(str(path))


def test_bad_float_names_line(tmp_path):
    path = tmp_path / "bad.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n1\t2\tnoon\n")
    with pytest.raises(DataError, match="line 3: field 'timestamp' is declared float but holds 'noon'"):
        read_atomic_file(str(path))


def test_empty_file(tmp_path):
    path = tmp_path / "e.inter"
    path.write_text("")
    with pytest.raises(DataError, match="empty file"):
        read_atomic_file(str(path))
