"""Tests for the Amazon Reviews 2023 `timestamp_w_his` loader."""

import gzip
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rearec_keras.datasets.amazon import load_amazon_reviews_2023
from rearec_keras.datasets.validation import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
CATEGORY = "Video_Games"
HEADER = "user_id,parent_asin,rating,timestamp,history\n"

USER_A = "AFKZENTNBQ7A7V7UXW5JJI6UGRYQ"
USER_B = "AHV6QCNBJNSGLATP56JAWJ3C4G2A"
USER_C = "AGCI7FAH4GL5FI65HYLKWTMFZ2CQ"


@pytest.fixture
def data_dir(tmp_path):
    """A writable copy of the fixture directory."""
    target = tmp_path / "amazon"
    shutil.copytree(FIXTURES, target)
    return target


def _write_split(directory, split, body, header=HEADER):
    (directory / f"{CATEGORY}.{split}.csv").write_text(header + body)


def test_loads_all_splits_with_exact_values():
    data = load_amazon_reviews_2023(FIXTURES, CATEGORY)
    inter = data.interactions

    assert data.name == "amazon2023-Video_Games"
    assert data.timestamp_unit == "ms"
    assert data.processing == []
    assert list(inter.columns) == [
        "user_id",
        "item_id",
        "timestamp",
        "rating",
        "split",
        "history",
    ]
    assert data.num_interactions == 11
    assert data.num_users == 3
    assert data.num_items == 6
    assert inter["split"].tolist() == ["train"] * 6 + ["valid"] * 2 + ["test"] * 3
    assert inter["timestamp"].dtype == np.int64
    assert inter["rating"].dtype == np.float64
    assert inter["user_id"].dtype == object
    assert inter["item_id"].dtype == object

    first = inter.iloc[0]
    assert first["user_id"] == USER_A
    assert first["item_id"] == "B07X3PJ7TF"
    assert first["timestamp"] == 1572553214000
    assert first["rating"] == 5.0
    assert first["history"] == ()

    assert inter["rating"].tolist() == [
        5.0,
        4.0,
        3.0,
        5.0,
        2.0,
        4.0,
        5.0,
        1.0,
        4.0,
        3.0,
        5.0,
    ]
    assert inter.loc[8, "history"] == (
        "B07X3PJ7TF",
        "B00ZS80PC2",
        "B07PPHHTGL",
        "B09VCFKT3D",
    )
    assert inter.loc[9, "history"] == ("B00ZS80PC2", "B01N5KD2BJ")
    assert [len(h) for h in inter["history"]] == [0, 1, 2, 0, 1, 0, 3, 1, 4, 2, 2]
    assert all(isinstance(h, tuple) for h in inter["history"])


def test_history_is_the_users_earlier_items_oldest_first():
    inter = load_amazon_reviews_2023(FIXTURES, CATEGORY).interactions
    for _, rows in inter.sort_values("timestamp").groupby("user_id"):
        items = rows["item_id"].tolist()
        for position, history in enumerate(rows["history"]):
            assert history == tuple(items[:position])


def test_timestamps_are_milliseconds_within_the_split_boundaries():
    inter = load_amazon_reviews_2023(FIXTURES, CATEGORY).interactions
    # The benchmark splits at these absolute millisecond timestamps.
    train = inter.loc[inter["split"] == "train", "timestamp"]
    valid = inter.loc[inter["split"] == "valid", "timestamp"]
    test = inter.loc[inter["split"] == "test", "timestamp"]
    assert train.max() < 1628643414042 <= valid.min()
    assert valid.max() < 1658002729837 <= test.min()
    assert pd.to_datetime(inter["timestamp"].iloc[0], unit="ms") == pd.Timestamp(
        "2019-10-31 20:20:14"
    )


def test_items_hold_metadata_of_loaded_items_only():
    items = load_amazon_reviews_2023(FIXTURES, CATEGORY).items
    assert list(items.columns) == [
        "item_id",
        "title",
        "description",
        "price",
        "main_category",
        "categories",
    ]
    # B01N5KD2BJ has no metadata line; B00K6WLQ4Q is in no interaction.
    assert items["item_id"].tolist() == [
        "B07X3PJ7TF",
        "B00ZS80PC2",
        "B07PPHHTGL",
        "B09VCFKT3D",
        "B0B6GXGK5D",
    ]
    row = items.set_index("item_id")
    assert row.loc["B07X3PJ7TF", "title"] == (
        "Wireless Gaming Mouse, 12000 DPI, 250h Battery"
    )
    assert row.loc["B07X3PJ7TF", "description"] == (
        "Next-generation optical sensor. Up to 250 hours on one AA battery."
    )
    # Empty paragraphs are skipped when joining.
    assert row.loc["B07PPHHTGL", "description"] == (
        "Tactile blue switches. Detachable USB-C cable."
    )
    assert row.loc["B00ZS80PC2", "description"] == ""
    assert items["price"].dtype == np.float64
    assert row.loc["B07PPHHTGL", "price"] == 59.5
    assert math.isnan(row.loc["B00ZS80PC2", "price"])
    assert row.loc["B07PPHHTGL", "main_category"] == "All Electronics"
    assert row.loc["B09VCFKT3D", "categories"] == (
        "Video Games",
        "PC",
        "Accessories",
        "Headsets",
    )
    assert row.loc["B07PPHHTGL", "categories"] == ()


def test_metadata_false_gives_no_items():
    data = load_amazon_reviews_2023(FIXTURES, CATEGORY, metadata=False)
    assert data.items is None
    assert data.num_interactions == 11


def test_missing_metadata_file_logs_a_warning(data_dir, caplog):
    (data_dir / f"meta_{CATEGORY}.jsonl").unlink()
    with caplog.at_level(logging.WARNING, logger="rearec_keras"):
        data = load_amazon_reviews_2023(data_dir, CATEGORY)
    assert data.items is None
    assert "meta_Video_Games.jsonl" in caplog.text


def test_selected_splits_only():
    data = load_amazon_reviews_2023(FIXTURES, CATEGORY, splits=("test", "valid"))
    assert data.interactions["split"].tolist() == ["test"] * 3 + ["valid"] * 2
    assert data.interactions["item_id"].tolist() == [
        "B0B6GXGK5D",
        "B09VCFKT3D",
        "B0B6GXGK5D",
        "B09VCFKT3D",
        "B01N5KD2BJ",
    ]
    # Items referenced only through histories are kept in the metadata.
    assert "B07X3PJ7TF" in set(data.items["item_id"])

    single = load_amazon_reviews_2023(FIXTURES, CATEGORY, splits="valid")
    assert single.num_interactions == 2
    assert set(single.interactions["split"]) == {"valid"}


def test_gzip_files_give_the_same_dataset(tmp_path):
    for source in FIXTURES.iterdir():
        with (
            open(source, "rb") as raw,
            gzip.open(tmp_path / f"{source.name}.gz", "wb") as gz,
        ):
            gz.write(raw.read())
    plain = load_amazon_reviews_2023(FIXTURES, CATEGORY)
    zipped = load_amazon_reviews_2023(tmp_path, CATEGORY)
    pd.testing.assert_frame_equal(plain.interactions, zipped.interactions)
    pd.testing.assert_frame_equal(plain.items, zipped.items)


def test_headerless_files_are_read_positionally(data_dir):
    for split in ("train", "valid", "test"):
        file = data_dir / f"{CATEGORY}.{split}.csv"
        lines = file.read_text().splitlines(keepends=True)
        file.write_text("".join(lines[1:]))
    headerless = load_amazon_reviews_2023(data_dir, CATEGORY)
    expected = load_amazon_reviews_2023(FIXTURES, CATEGORY)
    pd.testing.assert_frame_equal(headerless.interactions, expected.interactions)


def test_blank_lines_are_skipped_and_line_numbers_stay_exact(data_dir):
    _write_split(
        data_dir,
        "valid",
        f"{USER_A},B09VCFKT3D,5.0,1640995200000,B07X3PJ7TF\n"
        "\n"
        f"{USER_C},B01N5KD2BJ,five,1650000000000,B07PPHHTGL\n",
    )
    with pytest.raises(DataError, match=r"Video_Games\.valid\.csv, line 4: .*'five'"):
        load_amazon_reviews_2023(data_dir, CATEGORY)

    _write_split(
        data_dir, "valid", f"{USER_A},B09VCFKT3D,5.0,1640995200000,B07X3PJ7TF\n\n"
    )
    data = load_amazon_reviews_2023(data_dir, CATEGORY, splits="valid")
    assert data.num_interactions == 1


def test_price_strings_are_parsed(data_dir):
    (data_dir / f"meta_{CATEGORY}.jsonl").write_text(
        '{"parent_asin": "B07X3PJ7TF", "title": "Mouse", "price": "$1,299.99"}\n'
        '{"parent_asin": "B00ZS80PC2", "title": "Dock", "price": "None"}\n'
        '{"parent_asin": "B07PPHHTGL", "title": "Keyboard", "price": "from 20"}\n'
        '{"parent_asin": "B09VCFKT3D", "title": "Headset", "price": 12}\n'
    )
    items = load_amazon_reviews_2023(data_dir, CATEGORY).items.set_index("item_id")
    assert items.loc["B07X3PJ7TF", "price"] == 1299.99
    assert math.isnan(items.loc["B00ZS80PC2", "price"])
    assert math.isnan(items.loc["B07PPHHTGL", "price"])
    assert items.loc["B09VCFKT3D", "price"] == 12.0
    # No line had main_category or categories, so no such columns.
    assert list(items.columns) == ["title", "description", "price"]


# ---------------------------------------------------------------- errors


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory not found.*nowhere"):
        load_amazon_reviews_2023(tmp_path / "nowhere", CATEGORY)


def test_path_is_a_file():
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_amazon_reviews_2023(FIXTURES / f"{CATEGORY}.train.csv", CATEGORY)


def test_missing_split_file_names_file_and_source():
    with pytest.raises(FileNotFoundError) as info:
        load_amazon_reviews_2023(FIXTURES, "Toys_and_Games")
    message = str(info.value)
    assert "Toys_and_Games.train.csv" in message
    assert "Amazon Reviews 2023 benchmark" in message
    assert "'Video_Games'" in message  # the categories that are there


def test_missing_one_split_file(data_dir):
    (data_dir / f"{CATEGORY}.test.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"Video_Games\.test\.csv"):
        load_amazon_reviews_2023(data_dir, CATEGORY)
    # Not asking for it is fine.
    data = load_amazon_reviews_2023(data_dir, CATEGORY, splits=("train", "valid"))
    assert data.num_interactions == 8


@pytest.mark.parametrize(
    "splits, message",
    [
        (("train", "dev"), r"Unknown split\(s\) \['dev'\]"),
        (("train", "train"), r"\['train'\] requested more than once"),
        ((), "`splits` is empty"),
    ],
)
def test_bad_splits_argument(splits, message):
    with pytest.raises(ValueError, match=message):
        load_amazon_reviews_2023(FIXTURES, CATEGORY, splits=splits)


def test_empty_category():
    with pytest.raises(ValueError, match="non-empty string"):
        load_amazon_reviews_2023(FIXTURES, "")


def test_missing_column_names_file_and_column(data_dir):
    _write_split(
        data_dir,
        "train",
        f"{USER_A},B07X3PJ7TF,5.0,1572553214000\n",
        header="user_id,parent_asin,rating,timestamp\n",
    )
    with pytest.raises(
        DataError,
        match=r"Video_Games\.train\.csv: missing column\(s\) \['history'\]"
        r".*timestamp_w_his",
    ):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_wrong_header(data_dir):
    _write_split(
        data_dir,
        "train",
        f"{USER_A},B07X3PJ7TF,5.0,1572553214000,\n",
        header="user_id,asin,rating,timestamp,history\n",
    )
    with pytest.raises(DataError, match=r"missing column\(s\) \['parent_asin'\]"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_first_line_neither_header_nor_row(data_dir):
    _write_split(data_dir, "train", "", header="reviewer,product,stars\n")
    with pytest.raises(DataError, match="neither the header"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_row_with_extra_field(data_dir):
    _write_split(
        data_dir,
        "train",
        f"{USER_A},B07X3PJ7TF,5.0,1572553214000,\n"
        f"{USER_A},B00ZS80PC2,4.0,1590931200000,B07X3PJ7TF,oops\n",
    )
    with pytest.raises(
        DataError,
        match=r"Video_Games\.train\.csv: malformed row"
        r".*Expected 5 fields in line 3, saw 6",
    ):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_row_with_missing_fields(data_dir):
    _write_split(
        data_dir,
        "train",
        f"{USER_A},B07X3PJ7TF,5.0,1572553214000,\n{USER_A},B00ZS80PC2,4.0\n",
    )
    with pytest.raises(DataError, match=r"line 3: malformed row, 'timestamp' is ''"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_non_numeric_rating(data_dir):
    _write_split(data_dir, "train", f"{USER_A},B07X3PJ7TF,great,1572553214000,\n")
    with pytest.raises(
        DataError, match=r"train\.csv, line 2: malformed row, 'rating' is 'great'"
    ):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_non_integer_timestamp(data_dir):
    _write_split(data_dir, "train", f"{USER_A},B07X3PJ7TF,5.0,2019-10-31,\n")
    with pytest.raises(
        DataError, match=r"line 2: malformed row, 'timestamp' is '2019-10-31'"
    ):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_empty_item_id(data_dir):
    _write_split(data_dir, "train", f"{USER_A},,5.0,1572553214000,\n")
    with pytest.raises(DataError, match=r"line 2: malformed row, empty 'parent_asin'"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_empty_file(data_dir):
    (data_dir / f"{CATEGORY}.valid.csv").write_text("")
    with pytest.raises(DataError, match=r"Video_Games\.valid\.csv: the file is empty"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_header_only_file_is_an_empty_split(data_dir):
    _write_split(data_dir, "valid", "")
    data = load_amazon_reviews_2023(data_dir, CATEGORY)
    assert data.num_interactions == 9
    assert "valid" not in set(data.interactions["split"])


def test_corrupt_gzip(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"{CATEGORY}.{split}.csv.gz").write_bytes(
            b"\x1f\x8bnot gzip at all"
        )
    with pytest.raises(
        DataError, match=r"Video_Games\.train\.csv\.gz: could not be read"
    ):
        load_amazon_reviews_2023(tmp_path, CATEGORY, metadata=False)


def test_corrupt_json_line_names_file_and_line(data_dir):
    meta = data_dir / f"meta_{CATEGORY}.jsonl"
    lines = meta.read_text().splitlines(keepends=True)
    lines.insert(2, '{"parent_asin": "B0BROKEN01", "title": "cut off\n')
    meta.write_text("".join(lines))
    with pytest.raises(
        DataError, match=r"meta_Video_Games\.jsonl, line 3: not valid JSON"
    ):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_metadata_line_without_parent_asin(data_dir):
    meta = data_dir / f"meta_{CATEGORY}.jsonl"
    meta.write_text('{"parent_asin": "B07X3PJ7TF"}\n{"title": "Orphan"}\n')
    with pytest.raises(DataError, match=r"line 2: missing or empty 'parent_asin'"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_metadata_line_not_an_object(data_dir):
    (data_dir / f"meta_{CATEGORY}.jsonl").write_text('["B07X3PJ7TF"]\n')
    with pytest.raises(DataError, match=r"line 1: expected a JSON object, got list"):
        load_amazon_reviews_2023(data_dir, CATEGORY)


def test_metadata_lists_an_item_twice(data_dir):
    (data_dir / f"meta_{CATEGORY}.jsonl").write_text(
        '{"parent_asin": "B07X3PJ7TF", "title": "Mouse"}\n'
        '{"parent_asin": "B00ZS80PC2", "title": "Dock"}\n'
        '{"parent_asin": "B07X3PJ7TF", "title": "Mouse again"}\n'
    )
    with pytest.raises(
        DataError,
        match=r"line 3: item 'B07X3PJ7TF' is listed again \(first on line 1\)",
    ):
        load_amazon_reviews_2023(data_dir, CATEGORY)
