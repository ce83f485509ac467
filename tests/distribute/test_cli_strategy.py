"""`rearec-keras train --strategy ...`: a mirrored run on 2 simulated CPU
devices end to end, and one-line errors for strategies that cannot run."""

import json
import subprocess
import sys

import pytest

from rearec_keras import distribute
from rearec_keras.cli import main

TINY = ["--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
        "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
        "--learning", "erl", "--epochs", "2"]


def test_train_mirrored_on_two_cpu_devices(tmp_path, interactions, script_environment):
    import keras
    import numpy as np

    import rearec_keras.models  # noqa: F401  (registers the classes to load)

    run_dir = tmp_path / "run"
    args = [*TINY, "--data-path", interactions, "--run-dir", str(run_dir)]
    proc = subprocess.run(
        [sys.executable, "-m", "rearec_keras.cli", "train", *args,
         "--strategy", "mirrored", "--cpu-devices", "2"],
        env=script_environment(), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "strategy mirrored: 2 replicas, global batch 64" in proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["model"] == "SASRec+ERL (K=2)"
    assert 0.0 < metrics["test"]["final"]["ndcg@20"] <= 1.0
    assert json.loads((run_dir / "config.json").read_text())["strategy"] == "mirrored"
    log = (run_dir / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "val_ndcg@20" in log[0]
    # The model trained under the strategy loads in a plain process ...
    model = keras.saving.load_model(run_dir / "best.keras")
    scores = model.predict(np.array([[0] * 8 + [1, 2]], dtype="int32"), verbose=0)
    assert scores.shape == (1, metrics["num_items"] + 1)
    # ... and the strategy is not part of the run's identity: the finished
    # run is found again without it.
    assert main(["train", *args, "--quiet"]) == 0


def test_unknown_strategy_is_a_one_line_usage_error(capsys):
    assert main(["train", "--strategy", "horovod"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "--strategy: invalid choice: 'horovod'" in err


def test_strategy_of_another_backend_is_a_one_line_error(tmp_path, interactions, capsys):
    other = next(n for n in distribute.STRATEGIES if n not in distribute.available_strategies())
    rc = main(["train", *TINY, "--data-path", interactions, "--run-dir", str(tmp_path / "r"),
               "--strategy", other])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"rearec-keras: error: strategy {other!r} needs the")
    assert not (tmp_path / "r").exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["compare", "tune"])
def test_compare_and_tune_take_the_strategy_flags(command, capsys):
    from rearec_keras.cli import build_parser

    args = build_parser().parse_args([command, "--strategy", "mirrored", "--cpu-devices", "2"])
    assert args.strategy == "mirrored" and args.cpu_devices == 2


@pytest.mark.slow
def test_lares_trains_mirrored(tmp_path, interactions, script_environment):
    # LARES trains on its own batches (histories with same-target positives),
    # handed to the strategy as a tf.data pipeline. Pre-training only, at
    # k̄ = 1 (a short unrolled graph): RPT's loss scaling under the strategy
    # is tested number for number in test_mirrored.py.
    run_dir = tmp_path / "lares"
    args = [*TINY[:-4], "--learning", "lares", "--epochs", "1", "--reasoning-steps", "1",
            "--data-path", interactions, "--run-dir", str(run_dir)]
    proc = subprocess.run(
        [sys.executable, "-m", "rearec_keras.cli", "train", *args, "--quiet", "--phases", "spt",
         "--strategy", "mirrored", "--cpu-devices", "2"],
        env=script_environment(), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["phases_run"] == ["spt"] and metrics["epochs_run"] == 1
    assert 0.0 < metrics["test"]["final"]["ndcg@20"] <= 1.0
