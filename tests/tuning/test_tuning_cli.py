"""`rearec-keras tune` and distributed tuning on loopback."""

import json
import os

import pandas as pd
import pytest

from rearec_keras.cli import main

TINY = ["--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
        "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64"]


def test_tune_command_writes_the_study(tmp_path, interactions, capsys):
    out = tmp_path / "study"
    rc = main(["tune", *TINY, "--data-path", interactions, "--learning", "prl", "--epochs", "1",
               "--algorithm", "grid", "--space", "base_temperature=0.1,1",
               "--space", "temperature_decay=none", "--space", "reasoning_steps=1",
               "--no-baseline", "--quiet", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "best: base_temperature=" in printed and "trials.csv" in printed
    study = json.loads((out / "study.json").read_text())
    assert study["search_space"] == {"base_temperature": [0.1, 1.0], "reasoning_steps": 1}
    table = pd.read_csv(out / "trials.csv")
    assert sorted(table["base_temperature"]) == [0.1, 1.0]
    assert (out / "best" / "best.keras").exists() and (out / "sensitivity.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--space", "kl_weight=0.1"], "'kl_weight' only affects learning=erl"),
    (["--space", "base_temperature=-1,2"], "'base_temperature' = -1.0 is invalid"),
    (["--space", "base_temperature"], "expects NAME=V1,V2"),
    (["--space", "seed=1,2"], "'seed' cannot be tuned"),
    (["--algorithm", "grid", "--space", "learning_rate=1e-4:1e-2"], "continuous range"),
    (["--max-trials", "0"], "`max_trials` must be an int >= 1"),
    (["--oracle", "localhost"], "--oracle and --tuner-id go together"),
    (["--oracle", "localhost", "--tuner-id", "chief"], "--oracle expects HOST:PORT"),
    (["--learning", "base"], "learning='base' has no reasoning hyperparameters"),
])
def test_tune_command_bad_input_is_one_line(tmp_path, interactions, capsys, args, message):
    rc = main(["tune", *TINY, "--data-path", interactions, "--learning", "prl",
               "--out", str(tmp_path / "x"), *args])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "x").exists()  # nothing written: a corrected re-run is not refused


def test_tune_command_sets_keras_tuner_distribution_variables(tmp_path, interactions, monkeypatch):
    import rearec_keras.tuning

    seen = {}

    def fake_run_study(config, out_dir, **kwargs):
        seen.update({k: os.environ.get(k) for k in
                     ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID")})
        return None  # as a worker does

    monkeypatch.setattr(rearec_keras.tuning, "run_study", fake_run_study)
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.setenv(name, "unset")  # restored after the test
    rc = main(["tune", *TINY, "--data-path", interactions, "--learning", "erl",
               "--oracle", "10.0.0.7:8000", "--tuner-id", "tuner1", "--out", str(tmp_path / "d")])
    assert rc == 0
    assert seen == {"KERASTUNER_ORACLE_IP": "10.0.0.7", "KERASTUNER_ORACLE_PORT": "8000",
                    "KERASTUNER_TUNER_ID": "tuner1"}


@pytest.mark.slow
def test_distributed_study_with_two_workers_on_loopback(tmp_path, interactions):
    from rearec_keras.tuning.distributed import launch_local

    out = tmp_path / "dist"
    codes = launch_local(
        [*TINY, "--data-path", interactions, "--learning", "erl", "--algorithm", "random",
         "--max-trials", "6", "--epochs", "1", "--no-baseline",
         "--space", "learning_rate=1e-4:1e-2:log"],
        out, num_workers=2, timeout=900)
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}
    table = pd.read_csv(out / "trials.csv")
    # One shared oracle: six distinct trials, none repeated, all finished,
    # trained by both workers (the chief only serves the oracle).
    assert len(table) == 6 and table["trial_id"].nunique() == 6
    assert set(table["status"]) == {"COMPLETED"}
    assert set(table["worker"]) == {"tuner0", "tuner1"}
    assert table["learning_rate"].nunique() == 6
    for worker in ("tuner0", "tuner1"):
        assert f"worker {worker}: no trials left" in (out / "logs" / f"{worker}.log").read_text()
    assert (out / "best" / "best.keras").exists()


def test_launch_local_reports_a_failing_process(tmp_path):
    from rearec_keras.experiments.runner import RunError
    from rearec_keras.tuning.distributed import launch_local

    with pytest.raises(RunError, match="exited with code 2; end of its log:\n.*data_path"):
        launch_local(["--dataset", "table"], tmp_path / "bad", num_workers=1, timeout=300)
    with pytest.raises(ValueError, match="num_workers"):
        launch_local([], tmp_path, num_workers=0)
