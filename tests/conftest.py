"""Shared test setup: quiet TensorFlow, fixed seeds, fixture paths."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pathlib  # noqa: E402

import pytest  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir():
    return FIXTURES


@pytest.fixture(scope="session")
def ml100k():
    """The real MovieLens-100K (from the recbole package copy or the cache)."""
    from rearec_keras.datasets import load_movielens

    return load_movielens("ml-100k", download=False)
