"""LARES through the command line: train (SPT, filter, RPT as resumable
stages), the test-time depth sweep in `evaluate` (table, --json) and
`analyze` (CSV + PNG)."""

import json
from pathlib import Path

import numpy as np

import pytest

from rearec_keras.cli import main

SMALL = ["--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
         "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
         "--learning", "lares", "--num-pre-layers", "1", "--num-core-layers", "1",
         "--reasoning-steps", "2", "--depth-sampler", "constant", "--state-init", "zero"]


def test_lares_trains_and_reports_its_depth_sweep(tmp_path, interactions, capsys):
    run_dir = tmp_path / "lares"
    assert main(["train", *SMALL, "--no-rpt", "--data-path", interactions, "--epochs", "1",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "SASRec+LARES (K=2)"
    capsys.readouterr()
    out_json = tmp_path / "eval.json"
    assert main(["evaluate", str(run_dir), "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "test-time depth sweep" in printed
    sweep = json.loads(out_json.read_text())["test"]["depth_sweep"]
    assert [r["depth"] for r in sweep] == [1, 2, 4, 8, 12, 16]
    # state_init=zero: deterministic, so depth 2 (the trained depth) is the run's own score.
    assert abs(sweep[1]["ndcg@20"] - metrics["test"]["final"]["ndcg@20"]) < 1e-6
    assert main(["analyze", str(run_dir), "--out", str(tmp_path / "an")]) == 0
    assert (tmp_path / "an" / "depth_sweep.png").exists()
    assert (tmp_path / "an" / "depth_sweep.csv").read_text().startswith("depth,")


@pytest.mark.slow
def test_lares_tunes_over_its_own_search_space(tmp_path, interactions, capsys):
    from rearec_keras.methods import get_method

    out = tmp_path / "tune"
    assert main(["tune", *SMALL, "--data-path", interactions, "--epochs", "1",
                 "--max-trials", "2", "--algorithm", "random", "--out", str(out),
                 "--quiet"]) == 0
    with open(out / "trials.csv") as f:
        header = f.readline().strip().split(",")
    space = get_method("lares").search_space
    assert set(space) - {"reasoning_steps"} <= set(header)


def test_spt_then_filter_then_rpt_as_resumable_stages(tmp_path, interactions, capsys):
    import keras

    from rearec_keras.experiments.config import RunConfig
    from rearec_keras.experiments.prepare import prepare_data
    from rearec_keras.experiments.run_dir import read_config
    from rearec_keras.evaluation import target_ranks

    run_dir = tmp_path / "staged"
    args = ["train", *SMALL, "--data-path", interactions, "--epochs", "2", "--patience", "5",
            "--group-size", "2", "--filter-top-k", "5", "--run-dir", str(run_dir), "--quiet"]
    # --phases spt: pre-training alone, a finished run of one stage.
    assert main([*args, "--phases", "spt"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["phases_run"] == ["spt"] and list(metrics["phases"]) == ["spt"]
    assert metrics["selected_phase"] == "spt" and not (run_dir / "rpt").exists()
    spt_log = (run_dir / "spt" / "log.csv").read_text().splitlines()
    assert len(spt_log) == 1 + 2  # header + one row per epoch
    # The same command without --phases goes on: filter, then RPT from SPT's best.
    assert main(args) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["phases_run"] == ["spt", "rpt"]
    spt, rpt = metrics["phases"]["spt"], metrics["phases"]["rpt"]
    assert (run_dir / "spt" / "log.csv").read_text().splitlines() == spt_log  # not retrained
    for stage in (spt, rpt):
        assert set(stage) >= {"valid", "test", "best_epoch", "epochs_run", "best_valid_monitor"}
    # The filter: exactly the rows whose target is in SPT best's top 5 in some of 3 passes
    # (state_init=zero: the passes agree), recorded with its counts.
    record = json.loads((run_dir / "rpt" / "filter.json").read_text())
    kept = np.load(run_dir / "rpt" / "kept_rows.npy")
    assert record == rpt["filter"] and record["top_k"] == 5 and record["passes"] == 3
    assert record["kept"] == len(kept) and record["kept"] + record["removed"] == record["rows"]
    _, split = prepare_data(RunConfig.from_dict(read_config(run_dir)), verbose=0)
    spt_best = keras.saving.load_model(run_dir / "spt" / "best.keras")
    ranks = np.asarray(target_ranks(spt_best.score(split.train.histories),
                                    split.train.targets))
    assert kept.tolist() == np.flatnonzero(ranks <= 5).tolist()
    assert 0 < len(kept) < len(ranks)
    # The run's model is the stage with the better validation monitor.
    better = "rpt" if rpt["best_valid_monitor"] >= spt["best_valid_monitor"] else "spt"
    assert metrics["selected_phase"] == better
    assert metrics["test"] == metrics["phases"][better]["test"]
    capsys.readouterr()
    assert main(args) == 0  # finished: read back, not trained again
    assert "| rpt" in (run_dir / "results.md").read_text()
    assert main(["train", *args[1:], "--phases", "rpt"]) == 2  # not a prefix of spt,rpt
    assert "pass a prefix" in capsys.readouterr().err


def test_a_killed_rpt_stage_resumes_in_rpt_from_its_backup(tmp_path, interactions, capsys):
    from rearec_keras.experiments import runner
    from rearec_keras.training import callbacks as cb

    run_dir = tmp_path / "killed"
    args = ["train", *SMALL, "--data-path", interactions, "--epochs", "3", "--patience", "5",
            "--group-size", "2", "--run-dir", str(run_dir), "--quiet"]
    original = cb.RunBackup.on_epoch_end

    def kill_in_rpt(self, epoch, logs=None):
        original(self, epoch, logs)
        if Path(self.directory).parent.name == "rpt" and epoch == 0:
            raise KeyboardInterrupt  # killed after RPT's first epoch
    cb.RunBackup.on_epoch_end = kill_in_rpt
    try:
        assert main(args) == 130  # interrupted
    finally:
        cb.RunBackup.on_epoch_end = original
    state = json.loads((run_dir / "rpt" / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["phase"] == "rpt" and not state["finished"]
    assert not (run_dir / "metrics.json").exists()
    # The kept rows are read back checked: a truncated file is one clear error.
    kept_path = run_dir / "rpt" / "kept_rows.npy"
    good = kept_path.read_bytes()
    kept_path.write_bytes(good[:20])
    capsys.readouterr()
    assert main(args) == 2
    assert "kept_rows.npy cannot be read" in capsys.readouterr().err
    kept_path.write_bytes(good)
    assert main(args) == 0
    log = (run_dir / "rpt" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + 3  # RPT epochs 1, 2, 3 exactly once
    metrics = runner.read_run_file(run_dir, "metrics.json")
    assert metrics["phases"]["rpt"]["epochs_run"] == 3
    assert metrics["phases"]["spt"]["epochs_run"] == 3  # SPT was not trained again


def test_a_lares_tuning_trial_runs_rpt_after_half_its_epochs(tiny_config):
    import keras_tuner

    from rearec_keras.tuning import ReaSASRecHyperModel

    # A trial is one fit: LARES' staged SPT -> RPT becomes SPT for half the
    # epochs, then RPT, so that β and G (in its search space) take effect.
    config = tiny_config.replace(learning="lares", epochs=5)
    hypermodel = ReaSASRecHyperModel(30, config=config,
                                     search_space={"rpt_kl_weight": [0.1, 1.0]})
    trial = hypermodel.trial_config(keras_tuner.HyperParameters())
    assert trial.method_settings["rpt_after_epochs"] == 2
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert [(p.name, p.epochs) for p in model.phases] == [("spt", 2), ("rpt", None)]
    assert [model.phase_for_epoch(e).name for e in range(5)] == ["spt"] * 2 + ["rpt"] * 3
    # Without RPT, or with the switch set by the user, the trial is left alone.
    for settings, expected in (({"rpt": False}, None), ({"rpt_after_epochs": 4}, 4)):
        hypermodel = ReaSASRecHyperModel(30, config=config.replace(**settings))
        trial = hypermodel.trial_config(keras_tuner.HyperParameters())
        assert trial.method_settings["rpt_after_epochs"] == expected
