"""Shared test setup: quiet TensorFlow, fixed seeds, fixture paths."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
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


def write_interactions(path, num_users=60, num_items=30, seed=0):
    """Synthetic users walking the item ring i1 -> i2 -> ... (a planted
    sequential pattern), with string ids like a real file."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(num_users):
        start = int(rng.integers(0, num_items))
        for t in range(int(rng.integers(6, 15))):
            rows.append((f"u{u}", f"i{(start + t) % num_items + 1}", 1000 * u + t))
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def interactions(tmp_path_factory):
    return str(write_interactions(tmp_path_factory.mktemp("data") / "inter.csv"))


@pytest.fixture(scope="session")
def tiny_config(interactions):
    from rearec_keras.experiments.config import RunConfig

    return RunConfig(
        dataset="table", data_path=interactions, max_length=10, hidden_dim=16,
        intermediate_dim=32, batch_size=64, eval_batch_size=64, epochs=1, patience=2,
        learning="erl",
    )


@pytest.fixture(scope="session")
def tiny_split(tiny_config):
    from rearec_keras.experiments.runner import prepare_data

    return prepare_data(tiny_config)[1]
