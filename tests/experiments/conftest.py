import numpy as np
import pandas as pd
import pytest


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


TINY = [
    "--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
    "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
]


@pytest.fixture(scope="session")
def tiny():
    return list(TINY)


@pytest.fixture(scope="session")
def interactions(tmp_path_factory):
    return str(write_interactions(tmp_path_factory.mktemp("data") / "inter.csv"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, interactions):
    from rearec_keras.cli import main

    run_dir = tmp_path_factory.mktemp("runs") / "prl"
    rc = main(["train", *TINY, "--data-path", interactions, "--epochs", "3",
               "--run-dir", str(run_dir), "--quiet"])
    assert rc == 0
    return run_dir
