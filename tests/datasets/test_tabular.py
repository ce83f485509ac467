"""Tests for the generic CSV / TSV / text / Parquet interaction loader."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rearec_keras.datasets.tabular import load_interactions
from rearec_keras.datasets.validation import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tabular"
RATINGS = FIXTURES / "ratings.csv"
MOVIELENS_COLUMNS = {
    "userId": "user_id",
    "movieId": "item_id",
    "rating": "rating",
    "timestamp": "timestamp",
}
EVENT_COLUMNS = {"session": "user_id", "product": "item_id", "event_time": "timestamp"}


def test_csv_with_column_mapping_and_items():
    data = load_interactions(
        RATINGS,
        columns=MOVIELENS_COLUMNS,
        items=FIXTURES / "movies.csv",
        item_columns={"movieId": "item_id"},
        timestamp_unit="s",
    )
    inter = data.interactions
    assert data.name == "ratings"
    assert data.timestamp_unit == "s"
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert data.num_interactions == 7
    assert data.num_users == 3
    assert data.num_items == 5
    assert inter["user_id"].dtype == np.int64
    assert inter["item_id"].dtype == np.int64
    assert inter["timestamp"].dtype == np.int64
    assert inter["rating"].dtype == np.float64
    assert inter.iloc[0].tolist() == [1, 31, 1260759144, 2.5]
    assert inter["rating"].tolist() == [2.5, 3.0, 3.0, 4.0, 5.0, 3.5, 4.5]

    items = data.items
    assert list(items.columns) == ["item_id", "title", "genres"]
    assert items["item_id"].tolist() == [10, 17, 31, 1029, 1061]
    assert items.iloc[3]["title"] == "Dumbo (1941)"


def test_numeric_timestamps_are_kept_and_unit_defaults_to_none():
    data = load_interactions(RATINGS, columns=MOVIELENS_COLUMNS)
    assert data.timestamp_unit is None
    assert data.interactions["timestamp"].tolist() == [
        1260759144,
        1260759179,
        1260759182,
        835355493,
        835355681,
        1298861675,
        1298861589,
    ]


def test_datetime_strings_become_unix_seconds():
    data = load_interactions(FIXTURES / "events.tsv", columns=EVENT_COLUMNS)
    inter = data.interactions
    assert data.name == "events"
    assert data.timestamp_unit == "s"
    assert not data.has_ratings
    assert list(inter.columns) == ["user_id", "item_id", "timestamp"]
    assert inter["timestamp"].dtype == np.int64
    assert inter["item_id"].tolist() == ["P-0042", "P-0007", "P-0042", "P-0100"]
    assert inter["timestamp"].tolist() == [
        1577959200,  # 2020-01-02 10:00 (no zone: read as UTC)
        1577959530,  # 2020-01-02 10:05:30
        1578039300,  # 2020-01-03 08:15
        1578038400,  # 2020-01-03T09:00:00+01:00 = 08:00 UTC
    ]


def test_non_iso_date_strings_are_parsed(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text("u,i,t\n7,A,01/02/2020 10:00\n7,B,01/03/2020 11:30\n")
    data = load_interactions(
        path, columns={"u": "user_id", "i": "item_id", "t": "timestamp"}
    )
    assert data.interactions["timestamp"].tolist() == [1577959200, 1578051000]


def test_headerless_file_with_positional_names():
    data = load_interactions(
        FIXTURES / "u.data",
        format="tsv",
        columns=["user_id", "item_id", "rating", "timestamp"],
        timestamp_unit="s",
    )
    inter = data.interactions
    assert data.name == "u.data"
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert inter.iloc[0].tolist() == [196, 242, 881250949, 3]
    assert data.num_interactions == 5
    assert data.num_users == 4


def test_positional_names_can_skip_columns(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    data = load_interactions(
        path, format="txt", sep="::", columns=["user_id", "item_id", None, "timestamp"]
    )
    assert list(data.interactions.columns) == ["user_id", "item_id", "timestamp"]
    assert data.interactions["item_id"].tolist() == [1193, 661]


def test_txt_separator_is_guessed(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("user;item;ts\nalice;i1;10\nbob;i2;20\n")
    data = load_interactions(
        path, columns={"user": "user_id", "item": "item_id", "ts": "timestamp"}
    )
    assert data.interactions["user_id"].tolist() == ["alice", "bob"]
    assert data.interactions["timestamp"].tolist() == [10, 20]


def test_dataframe_input_with_datetime_column():
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "item_id": ["a", "b", "a"],
            "timestamp": pd.to_datetime(
                ["2021-03-01 00:00:01", "2021-03-02 00:00:00", "2021-03-03 12:00:00"]
            ),
        }
    )
    data = load_interactions(frame)
    assert data.name == "interactions"
    assert data.timestamp_unit == "s"
    assert data.interactions["timestamp"].tolist() == [
        1614556801,
        1614643200,
        1614772800,
    ]
    # The caller's frame is untouched.
    assert pd.api.types.is_datetime64_any_dtype(frame["timestamp"])


def test_dataframe_with_mapping_and_name():
    frame = pd.DataFrame(
        {"uid": [3, 4], "iid": [9, 8], "t": [100, 200], "extra": [1, 2]}
    )
    data = load_interactions(
        frame,
        columns={"uid": "user_id", "iid": "item_id", "t": "timestamp"},
        name="toy",
    )
    assert data.name == "toy"
    assert list(data.interactions.columns) == ["user_id", "item_id", "timestamp"]
    assert list(frame.columns) == ["uid", "iid", "t", "extra"]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet(tmp_path, suffix):
    source = pd.read_csv(RATINGS)
    path = tmp_path / f"ratings{suffix}"
    source.to_parquet(path)
    data = load_interactions(path, columns=MOVIELENS_COLUMNS, timestamp_unit="s")
    expected = load_interactions(RATINGS, columns=MOVIELENS_COLUMNS, timestamp_unit="s")
    assert data.name == "ratings"
    pd.testing.assert_frame_equal(data.interactions, expected.interactions)


def test_parquet_datetime_column(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "user_id": [1, 1],
            "item_id": [5, 6],
            "timestamp": pd.to_datetime(
                ["2020-01-02 10:00:00", "2020-01-02 10:05:30"], utc=True
            ),
        }
    ).to_parquet(path)
    data = load_interactions(path)
    assert data.timestamp_unit == "s"
    assert data.interactions["timestamp"].tolist() == [1577959200, 1577959530]


def test_gzipped_csv(tmp_path):
    path = tmp_path / "ratings.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(RATINGS.read_bytes())
    data = load_interactions(path, columns=MOVIELENS_COLUMNS)
    assert data.name == "ratings"
    assert data.num_interactions == 7


def test_format_argument_overrides_extension(tmp_path):
    path = tmp_path / "ratings.export"
    shutil.copy(RATINGS, path)
    data = load_interactions(path, columns=MOVIELENS_COLUMNS, format="csv")
    assert data.num_interactions == 7
    assert data.name == "ratings.export"


def test_items_dataframe():
    items = pd.DataFrame({"movie": [31, 1029], "name": ["Dangerous Minds", "Dumbo"]})
    data = load_interactions(
        RATINGS,
        columns=MOVIELENS_COLUMNS,
        items=items,
        item_columns={"movie": "item_id", "name": "title"},
    )
    assert list(data.items.columns) == ["item_id", "title"]
    assert data.items["title"].tolist() == ["Dangerous Minds", "Dumbo"]


# ---------------------------------------------------------------- errors


def test_path_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_interactions(tmp_path / "missing.csv")


def test_path_is_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_interactions(tmp_path)


def test_mapping_names_a_column_not_in_the_file():
    with pytest.raises(
        DataError,
        match=r"ratings\.csv: the column mapping names column\(s\) \['uid'\].*"
        r"available columns: \['userId', 'movieId', 'rating', 'timestamp', 'note'\]",
    ):
        load_interactions(RATINGS, columns={"uid": "user_id", "movieId": "item_id"})


def test_mapping_target_not_ours():
    with pytest.raises(
        ValueError, match=r"maps to \['user'\], which are not interaction"
    ):
        load_interactions(RATINGS, columns={"userId": "user", "movieId": "item_id"})


def test_two_columns_mapped_to_one_name():
    with pytest.raises(ValueError, match=r"several columns to \['item_id'\]"):
        load_interactions(RATINGS, columns={"userId": "item_id", "movieId": "item_id"})


def test_missing_required_column_after_mapping():
    with pytest.raises(
        DataError,
        match=r"events\.tsv: missing required column\(s\) \['timestamp'\] after "
        r"applying the column mapping; "
        r"the table has \['user_id', 'item_id', 'event_time'\]",
    ):
        load_interactions(
            FIXTURES / "events.tsv",
            columns={"session": "user_id", "product": "item_id"},
        )


def test_unmapped_columns_with_our_names_are_kept():
    # The file's own 'rating' and 'timestamp' columns already have our names.
    data = load_interactions(
        RATINGS, columns={"userId": "user_id", "movieId": "item_id"}
    )
    assert list(data.interactions.columns) == [
        "user_id",
        "item_id",
        "timestamp",
        "rating",
    ]


def test_missing_required_columns_without_mapping():
    with pytest.raises(
        DataError, match=r"missing required column\(s\) \['user_id', 'item_id'\]"
    ):
        load_interactions(RATINGS)


def test_mapping_would_duplicate_an_existing_column(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("user_id,uid,item_id,timestamp\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"already has column\(s\) \['user_id'\]"):
        load_interactions(path, columns={"uid": "user_id"})


def test_unknown_extension(tmp_path):
    path = tmp_path / "ratings.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(
        DataError, match=r"cannot tell the format from the extension '\.xlsx'"
    ):
        load_interactions(path)


def test_unknown_format_argument():
    with pytest.raises(ValueError, match=r"Unknown `format` 'excel'"):
        load_interactions(RATINGS, format="excel")


def test_bad_timestamp_unit():
    with pytest.raises(ValueError, match="`timestamp_unit` must be"):
        load_interactions(RATINGS, columns=MOVIELENS_COLUMNS, timestamp_unit="us")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(
        DataError, match=r"broken\.parquet: could not be read as Parquet"
    ):
        load_interactions(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match=r"broken\.csv\.gz: could not be parsed as csv"):
        load_interactions(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("user_id,item_id,timestamp\nJos\xe9,caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(
        DataError, match=r"latin\.csv: could not be parsed as csv.*utf-8"
    ):
        load_interactions(path)


def test_row_with_too_many_fields(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("user_id,item_id,timestamp\n1,2,3\n1,3,4,5\n")
    with pytest.raises(
        DataError,
        match=r"ragged\.csv: could not be parsed.*Expected 3 fields in line 3",
    ):
        load_interactions(path)


def test_every_row_with_too_many_fields(tmp_path):
    path = tmp_path / "shifted.csv"
    path.write_text("user_id,item_id,timestamp\n1,2,3,x\n1,3,4,y\n")
    with pytest.raises(
        DataError, match=r"shifted\.csv: rows have more fields than the header"
    ):
        load_interactions(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load_interactions(path)


def test_unparsable_date(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,t\n1,a,2020-01-02 10:00\n1,b,not a date\n")
    with pytest.raises(
        DataError,
        match=r"column 'timestamp' has 1 value\(s\) that are neither numbers nor "
        r"dates, e.g. 'not a date' in data row 2",
    ):
        load_interactions(
            path, columns={"u": "user_id", "i": "item_id", "t": "timestamp"}
        )


def test_missing_date(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,t\n1,a,2020-01-02 10:00\n1,b,\n")
    with pytest.raises(DataError, match=r"1 missing value\(s\), e.g. in data row 2"):
        load_interactions(
            path, columns={"u": "user_id", "i": "item_id", "t": "timestamp"}
        )


def test_dates_with_millisecond_unit():
    with pytest.raises(
        ValueError, match="converted to Unix seconds, but timestamp_unit='ms'"
    ):
        load_interactions(
            FIXTURES / "events.tsv", columns=EVENT_COLUMNS, timestamp_unit="ms"
        )


def test_positional_names_do_not_match_column_count():
    with pytest.raises(
        DataError, match=r"`columns` lists 3 names but the table has 4 columns"
    ):
        load_interactions(
            FIXTURES / "u.data",
            format="tsv",
            columns=["user_id", "item_id", "timestamp"],
        )


def test_positional_name_not_ours():
    with pytest.raises(ValueError, match=r"`columns` names \['stars'\]"):
        load_interactions(
            FIXTURES / "u.data",
            format="tsv",
            columns=["user_id", "item_id", "stars", "timestamp"],
        )


def test_non_numeric_rating_is_caught_by_validation(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,timestamp,rating\n1,2,3,4.5\n1,3,4,good\n")
    with pytest.raises(
        DataError, match=r"column 'rating' has missing or non-numeric values"
    ):
        load_interactions(path)


def test_items_without_item_id():
    with pytest.raises(
        DataError, match=r"movies\.csv: item metadata has no 'item_id' column"
    ):
        load_interactions(
            RATINGS, columns=MOVIELENS_COLUMNS, items=FIXTURES / "movies.csv"
        )


def test_item_mapping_names_a_missing_column():
    with pytest.raises(
        DataError,
        match=r"movies\.csv: the column mapping names column\(s\) \['itemId'\]",
    ):
        load_interactions(
            RATINGS,
            columns=MOVIELENS_COLUMNS,
            items=FIXTURES / "movies.csv",
            item_columns={"itemId": "item_id"},
        )


def test_item_columns_without_items():
    with pytest.raises(
        ValueError, match="`item_columns` was given but `items` is None"
    ):
        load_interactions(
            RATINGS, columns=MOVIELENS_COLUMNS, item_columns={"movieId": "item_id"}
        )


def test_columns_of_the_wrong_type():
    with pytest.raises(ValueError, match="`columns` must be a dict"):
        load_interactions(RATINGS, columns="userId")
