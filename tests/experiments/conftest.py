import pytest


TINY = [
    "--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
    "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
]


@pytest.fixture(scope="session")
def tiny():
    return list(TINY)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, interactions):
    from rearec_keras.cli import main

    run_dir = tmp_path_factory.mktemp("runs") / "prl"
    rc = main(["train", *TINY, "--data-path", interactions, "--epochs", "3",
               "--learning", "prl", "--run-dir", str(run_dir), "--quiet"])
    assert rc == 0
    return run_dir
