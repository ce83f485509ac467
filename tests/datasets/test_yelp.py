"""Tests for the Yelp Open Dataset loader."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rearec_keras.datasets import yelp
from rearec_keras.datasets.validation import DataError
from rearec_keras.datasets.yelp import load_yelp

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yelp"
REVIEWS = "yelp_academic_dataset_review.json"
BUSINESSES = "yelp_academic_dataset_business.json"

USER_1 = "mh_-eMZ6K5RLWhZyISBhwA"
BIZ_1 = "XQfwVwDr-v0ZS3_CbbE5Xw"


@pytest.fixture
def data_dir(tmp_path):
    target = tmp_path / "yelp"
    shutil.copytree(FIXTURES, target)
    return target


def _review(**overrides):
    record = {
        "review_id": "Q1sbwvVQXV2734tPgoKj4Q",
        "user_id": "hG7b0MtEbXx5QzbzE6C_VA",
        "business_id": "e4Vwtrqf-wpJfwesgvdgxQ",
        "stars": 1.0,
        "useful": 1,
        "funny": 0,
        "cool": 0,
        "text": "Total bill for this horrible service?",
        "date": "2013-05-07 04:34:36",
    }
    record.update(overrides)
    return json.dumps(record)


def _write_reviews(directory, lines):
    (directory / REVIEWS).write_text("".join(line + "\n" for line in lines))


def test_loads_reviews_with_exact_values():
    data = load_yelp(FIXTURES)
    inter = data.interactions

    assert data.name == "yelp"
    assert data.timestamp_unit == "s"
    assert data.processing == []
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert data.num_interactions == 7
    assert data.num_users == 3
    assert data.num_items == 4
    assert inter["timestamp"].dtype == np.int64
    assert inter["rating"].dtype == np.float64
    assert inter["user_id"].dtype == object

    assert inter.iloc[0].tolist() == [USER_1, BIZ_1, 1531001351, 3.0]
    # "2018-07-07 22:09:11" read as UTC.
    assert pd.Timestamp(1531001351, unit="s") == pd.Timestamp("2018-07-07 22:09:11")
    assert inter["timestamp"].tolist() == [
        1531001351,
        1325604498,
        1391632230,
        1420329663,
        1484427255,
        1552089600,
        1457481600,
    ]
    # Integer stars (2) become floats; a repeated (user, business) pair is kept.
    assert inter["rating"].tolist() == [3.0, 5.0, 3.0, 5.0, 4.0, 2.0, 1.0]
    repeated = inter[(inter["user_id"] == USER_1) & (inter["item_id"] == BIZ_1)]
    assert len(repeated) == 2


def test_items_keep_name_city_state_categories_of_reviewed_businesses():
    items = load_yelp(FIXTURES).items
    assert list(items.columns) == ["item_id", "title", "city", "state", "categories"]
    # Pns2l4eNsfO8kk83dixA6A has no review, so it is not kept.
    assert items["item_id"].tolist() == [
        BIZ_1,
        "7ATYjTIgM3jUlt4UM3IypQ",
        "YjUWPpI6HXG530lwP-fb2A",
        "kxX2SOes4o-D3ZQBkiMRfA",
    ]
    first = items.iloc[0]
    assert first["title"] == "Turning Point of North Wales"
    assert first["city"] == "North Wales"
    assert first["state"] == "PA"
    assert first["categories"] == (
        "Restaurants",
        "Breakfast & Brunch",
        "Food",
        "Juice Bars & Smoothies",
    )
    # "categories": null
    assert items.iloc[1]["categories"] == ()


def test_max_reviews_reads_the_first_reviews_only():
    data = load_yelp(FIXTURES, max_reviews=3)
    assert data.num_interactions == 3
    assert data.interactions["user_id"].tolist() == [
        USER_1,
        "OyoGAe7OKpv6SyGZT5g77Q",
        "8g_iMtfSiwikVnbP2etR0A",
    ]
    assert len(data.items) == 3


def test_small_blocks_give_the_same_result(monkeypatch):
    expected = load_yelp(FIXTURES)
    monkeypatch.setattr(yelp, "_BLOCK_SIZE", 400)  # several blocks
    chunked = load_yelp(FIXTURES)
    pd.testing.assert_frame_equal(chunked.interactions, expected.interactions)
    pd.testing.assert_frame_equal(chunked.items, expected.items)
    five = load_yelp(FIXTURES, max_reviews=5)
    pd.testing.assert_frame_equal(five.interactions, expected.interactions.iloc[:5])


def test_metadata_false_gives_no_items():
    data = load_yelp(FIXTURES, metadata=False)
    assert data.items is None
    assert data.num_interactions == 7


def test_missing_business_file_logs_a_warning(data_dir, caplog):
    (data_dir / BUSINESSES).unlink()
    with caplog.at_level(logging.WARNING, logger="rearec_keras"):
        data = load_yelp(data_dir)
    assert data.items is None
    assert BUSINESSES in caplog.text


def test_short_file_names_are_accepted(tmp_path):
    shutil.copy(FIXTURES / REVIEWS, tmp_path / "review.json")
    shutil.copy(FIXTURES / BUSINESSES, tmp_path / "business.json")
    data = load_yelp(tmp_path)
    expected = load_yelp(FIXTURES)
    pd.testing.assert_frame_equal(data.interactions, expected.interactions)
    pd.testing.assert_frame_equal(data.items, expected.items)


def test_blank_lines_and_date_only_values(data_dir):
    _write_reviews(data_dir, [_review(), "", _review(date="2013-05-08", stars=4)])
    data = load_yelp(data_dir, metadata=False)
    assert data.interactions["timestamp"].tolist() == [1367901276, 1367971200]
    assert data.interactions["rating"].tolist() == [1.0, 4.0]


# ---------------------------------------------------------------- errors


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="Yelp directory not found"):
        load_yelp(tmp_path / "yelp_dataset")


def test_path_is_a_file():
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_yelp(FIXTURES / REVIEWS)


def test_missing_review_file_names_file_and_source(tmp_path):
    shutil.copy(FIXTURES / BUSINESSES, tmp_path / BUSINESSES)
    with pytest.raises(FileNotFoundError) as info:
        load_yelp(tmp_path)
    assert REVIEWS in str(info.value)
    assert "review.json" in str(info.value)
    assert "business.yelp.com/data/resources/open-dataset" in str(info.value)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100"])
def test_bad_max_reviews(bad):
    with pytest.raises(ValueError, match="`max_reviews` must be a positive integer"):
        load_yelp(FIXTURES, max_reviews=bad)


def test_corrupt_json_line(data_dir):
    _write_reviews(data_dir, [_review(), _review(), '{"review_id": "x", "user_id": '])
    with pytest.raises(DataError, match=rf"{REVIEWS}, line 3: not valid JSON"):
        load_yelp(data_dir)


def test_corrupt_line_number_counts_blank_lines(data_dir):
    _write_reviews(data_dir, [_review(), "", "", "not json at all", _review()])
    with pytest.raises(DataError, match=r"line 4: not valid JSON"):
        load_yelp(data_dir)


def test_line_not_an_object(data_dir):
    _write_reviews(data_dir, [_review(), '["a", "list"]'])
    with pytest.raises(DataError, match=r"line 2: expected a JSON object, got list"):
        load_yelp(data_dir)


def test_review_without_user_id(data_dir):
    record = json.loads(_review())
    del record["user_id"]
    _write_reviews(data_dir, [_review(), _review(), json.dumps(record)])
    with pytest.raises(
        DataError, match=r"line 3: the review has no \(or an empty\) 'user_id'"
    ):
        load_yelp(data_dir)


def test_review_with_empty_business_id(data_dir):
    _write_reviews(data_dir, [_review(business_id="")])
    with pytest.raises(DataError, match=r"line 1: .*'business_id'"):
        load_yelp(data_dir)


def test_missing_field_line_number_in_a_later_block(data_dir, monkeypatch):
    monkeypatch.setattr(yelp, "_BLOCK_SIZE", 400)
    record = json.loads(_review())
    del record["stars"]
    _write_reviews(data_dir, [_review()] * 6 + [json.dumps(record)] + [_review()] * 3)
    with pytest.raises(DataError, match=r"line 7: the review has no .*'stars'"):
        load_yelp(data_dir)


def test_stars_of_the_wrong_type(data_dir):
    _write_reviews(data_dir, [_review(), _review(stars="5")])
    with pytest.raises(DataError, match=r"line 2: 'stars' is '5', expected a number"):
        load_yelp(data_dir)


def test_unparsable_date(data_dir):
    _write_reviews(data_dir, [_review(), _review(date="yesterday")])
    with pytest.raises(DataError, match=r"line 2: 'date' 'yesterday' is not a date"):
        load_yelp(data_dir)


def test_empty_review_file(data_dir):
    (data_dir / REVIEWS).write_text("")
    with pytest.raises(DataError, match="holds no reviews"):
        load_yelp(data_dir)


def test_business_file_corrupt_line(data_dir):
    path = data_dir / BUSINESSES
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1][:60] + "\n"
    path.write_text("".join(lines))
    with pytest.raises(DataError, match=rf"{BUSINESSES}, line 2: not valid JSON"):
        load_yelp(data_dir)


def test_business_listed_twice(data_dir):
    path = data_dir / BUSINESSES
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + [lines[1]]))
    with pytest.raises(
        DataError,
        match=rf"line 6: business '{BIZ_1}' is listed again \(first on line 2\)",
    ):
        load_yelp(data_dir)


def test_business_without_id(data_dir):
    (data_dir / BUSINESSES).write_text('{"name": "Zaika", "city": "Philadelphia"}\n')
    with pytest.raises(DataError, match=r"line 1: missing or empty 'business_id'"):
        load_yelp(data_dir)
