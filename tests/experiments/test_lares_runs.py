"""LARES through the command line: train, the test-time depth sweep in
`evaluate` (table, --json) and `analyze` (CSV + PNG)."""

import json

import pytest

from rearec_keras.cli import main

SMALL = ["--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
         "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
         "--learning", "lares", "--num-pre-layers", "1", "--num-core-layers", "1",
         "--reasoning-steps", "2", "--depth-sampler", "constant", "--state-init", "zero"]


def test_lares_trains_and_reports_its_depth_sweep(tmp_path, interactions, capsys):
    run_dir = tmp_path / "lares"
    assert main(["train", *SMALL, "--data-path", interactions, "--epochs", "1",
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
