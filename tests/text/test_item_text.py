"""Item texts in the ReaRec template, from each loader's metadata columns."""

import logging

import numpy as np
import pandas as pd
import pytest

from rearec_keras import data
from rearec_keras.datasets import InteractionDataset
from rearec_keras.text import TEMPLATE_HEADER
from rearec_keras.text import TEXT_FIELDS
from rearec_keras.text import format_item_text
from rearec_keras.text import item_texts


@pytest.fixture(scope="module")
def ml100k_split(ml100k):
    return data.leave_one_out(ml100k)


def _indexed(items, ids=None, name="dataset"):
    """An indexed dataset: one user who saw `ids` (default: the metadata's ids)."""
    ids = list(items["item_id"]) if ids is None else list(ids)
    interactions = pd.DataFrame({
        "user_id": [1] * len(ids), "item_id": ids, "timestamp": np.arange(len(ids)),
    })
    return data.index_ids(InteractionDataset(interactions, items=items, name=name))


def test_ml100k_toy_story_text(ml100k_split):
    texts = item_texts(ml100k_split)
    assert len(texts) == ml100k_split.num_items == 1682
    assert texts[0] == (
        "The item information is as follows:\n"
        "title: Toy Story\n"
        "year: 1995\n"
        "genres: Animation, Children's, Comedy"
    )
    assert texts[1] == (
        "The item information is as follows:\n"
        "title: GoldenEye\n"
        "year: 1995\n"
        "genres: Action, Adventure, Thriller"
    )


def test_ml100k_missing_year_leaves_its_line_out(ml100k_split):
    # Item 267 of ml-100k has the title "unknown" and no release date.
    assert ml100k_split.items.loc[ml100k_split.items.item_id == 267, "year"].isna().all()
    assert item_texts(ml100k_split)[266] == (
        "The item information is as follows:\ntitle: unknown\ngenres: unknown"
    )


def test_indexed_dataset_works_like_its_split(ml100k, ml100k_split):
    assert item_texts(data.index_ids(ml100k)) == item_texts(ml100k_split)


def test_amazon_frame_by_hand():
    items = pd.DataFrame({
        "item_id": ["B01", "B02", "B03"],
        "title": ["Rose Face Oil", "Hair Clip", ""],
        "description": ["Cold-pressed.\n  For all skin types.", "", "Only a description."],
        "price": [12.99, np.nan, 5.0],
        "main_category": ["All Beauty", None, None],
        "categories": [(), (), ()],
    })
    ds = _indexed(items, name="amazon2023-All_Beauty")  # B01..B03 -> items 1..3
    assert item_texts(ds) == [
        f"{TEMPLATE_HEADER}\ntitle: Rose Face Oil\n"
        "description: Cold-pressed. For all skin types.\nprice: 12.99",
        f"{TEMPLATE_HEADER}\ntitle: Hair Clip",
        f"{TEMPLATE_HEADER}\ndescription: Only a description.\nprice: 5",
    ]


def test_yelp_frame_by_hand_shows_the_name_key():
    items = pd.DataFrame({
        "item_id": ["b1", "b2"],
        "title": ["Abby Rappoport, LAC, CMQ", "Joe's Pizza"],
        "city": ["Santa Barbara", ""],
        "state": ["CA", "PA"],
        "categories": [("Doctors", "Traditional Chinese Medicine"), ()],
    })
    texts = item_texts(_indexed(items, name="yelp"))
    assert texts == [
        f"{TEMPLATE_HEADER}\nname: Abby Rappoport, LAC, CMQ\ncity: Santa Barbara\n"
        "state: CA\ncategories: Doctors, Traditional Chinese Medicine",
        f"{TEMPLATE_HEADER}\nname: Joe's Pizza\nstate: PA",
    ]


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, "", "   ", (), []])
def test_missing_values_leave_their_line_out(missing):
    record = {"title": "Heat", "year": missing, "genres": ("Action",)}
    assert format_item_text(record, TEXT_FIELDS["ml-100k"]) == (
        f"{TEMPLATE_HEADER}\ntitle: Heat\ngenres: Action"
    )


def test_value_formatting():
    fields = [("a", "a"), ("b", "b"), ("c", "c"), ("d", "d"), ("e", "e")]
    record = {"a": np.int64(1995), "b": 1995.0, "c": 12.5, "d": ["x", None, "y"], "e": "p\tq"}
    assert format_item_text(record, fields) == (
        f"{TEMPLATE_HEADER}\na: 1995\nb: 1995\nc: 12.5\nd: x, y\ne: p q"
    )
    assert format_item_text({}, fields) == TEMPLATE_HEADER
    # Column names alone show as their own keys; a TEXT_FIELDS name works too.
    assert format_item_text({"title": "Heat"}, ["title"]) == f"{TEMPLATE_HEADER}\ntitle: Heat"
    assert format_item_text({"title": "Heat"}, "yelp") == f"{TEMPLATE_HEADER}\nname: Heat"


def test_items_without_metadata_get_the_header_and_a_warning(caplog):
    items = pd.DataFrame({
        "item_id": [2, 4], "title": ["Two", "Four"], "year": pd.array([2001, pd.NA], "Int64"),
        "genres": [("Drama",), ()],
    })
    ds = _indexed(items, ids=range(1, 10))
    with caplog.at_level(logging.WARNING, logger="rearec_keras"):
        texts = item_texts(ds)
    assert len(texts) == 9
    assert texts[1] == f"{TEMPLATE_HEADER}\ntitle: Two\nyear: 2001\ngenres: Drama"
    assert texts[3] == f"{TEMPLATE_HEADER}\ntitle: Four"
    assert [texts[i] for i in (0, 2, 4, 5, 6, 7, 8)] == [TEMPLATE_HEADER] * 7
    [record] = [r for r in caplog.records if "no metadata" in r.getMessage()]
    assert "7 of 9 items" in record.getMessage()
    assert "1, 3, 5, 6, 7, ..." in record.getMessage()


def test_no_metadata_is_an_error(ml100k_split):
    import dataclasses

    without = dataclasses.replace(ml100k_split, items=None)
    with pytest.raises(ValueError, match=r"no item metadata .*Load the dataset with its metadata"):
        item_texts(without)


def test_missing_column_is_named(ml100k_split):
    with pytest.raises(ValueError, match=r"no column\(s\) \['price'\].*'title', 'year', 'genres'"):
        item_texts(ml100k_split, fields=[("title", "title"), ("price", "price")])
    with pytest.raises(ValueError, match=r"no column\(s\) \['description', 'price'\]"):
        item_texts(ml100k_split, fields="amazon")


def test_unknown_columns_ask_for_fields():
    items = pd.DataFrame({"item_id": [1, 2, 3], "name": ["a", "b", "c"]})
    with pytest.raises(ValueError, match=r"columns \['item_id', 'name'\].*pass `fields=`"):
        item_texts(_indexed(items))
    assert item_texts(_indexed(items), fields=["name"])[0] == f"{TEMPLATE_HEADER}\nname: a"


def test_unindexed_dataset_is_an_error(ml100k):
    with pytest.raises(ValueError, match="not indexed.*index_ids"):
        item_texts(ml100k)


def test_bad_fields_are_errors(ml100k_split):
    with pytest.raises(ValueError, match="Unknown text-field set 'imdb'"):
        item_texts(ml100k_split, fields="imdb")
    with pytest.raises(ValueError, match=r"\(key, column\) pair"):
        item_texts(ml100k_split, fields=[("title",)])


def test_import_is_light():
    import subprocess
    import sys

    check = (
        "import sys, rearec_keras.text\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_hub', 'torch', 'jax') "
        "if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY=\n" in out
