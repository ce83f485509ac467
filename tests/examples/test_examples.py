"""Smoke tests: the example scripts run end to end on real ml-100k at tiny size."""

import runpy
import sys
from pathlib import Path

import pytest

# End-to-end runs: behind the `slow` marker (`python -m pytest -m slow`).
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_quickstart_example(capsys):
    module = runpy.run_path(str(EXAMPLES / "quickstart.py"))
    test = module["main"](["--epochs", "1", "--max-train-examples", "512", "--hidden-dim", "16"])
    assert set(test) >= {"ndcg@10", "ndcg@20", "recall@10", "recall@20"}
    assert 0.0 <= test["ndcg@20"] <= 1.0
    out = capsys.readouterr().out
    assert "reasoning state r_2" in out
    assert "top-5 for the first test user" in out


def test_data_and_evaluation_example(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["data_and_evaluation.py"])
    runpy.run_path(str(EXAMPLES / "data_and_evaluation.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Markov   test" in out and "MostPop  test" in out


def test_custom_backbone_gru_example(capsys):
    module = runpy.run_path(str(EXAMPLES / "custom_backbone_gru.py"))
    results = module["main"](["--epochs", "1", "--max-train-examples", "512", "--hidden-dim", "16"])
    assert set(results) == {"model (mean of steps)", "r_0 alone", "r_1 alone", "r_2 alone"}
    assert all(0.0 <= m["ndcg@20"] <= 1.0 for m in results.values())
    assert "ReaGRU4Rec test" in capsys.readouterr().out


def test_compare_methods_example(tmp_path, capsys, interactions):
    module = runpy.run_path(str(EXAMPLES / "compare_methods.py"))
    table = module["main"](["--dataset", "table", "--data-path", interactions,
                            "--seeds", "0", "--epochs", "1", "--hidden-dim", "16",
                            "--max-length", "10", "--out", str(tmp_path / "cmp")])
    assert "| SASRec |" in table and "| SASRec+PRL (K=2) |" in table
    assert (tmp_path / "cmp" / "compare.csv").exists()


def test_analyses_example(tmp_path, interactions):
    module = runpy.run_path(str(EXAMPLES / "analyses.py"))
    results, files = module["main"](["--dataset", "table", "--data-path",
                                     interactions, "--epochs", "1",
                                     "--hidden-dim", "16", "--max-length", "10",
                                     "--run-dir", str(tmp_path / "run")])
    assert set(files) == {"step_performance", "subgroups", "state_similarity",
                          "rank_trajectories", "oracle", "halting_curve"}
    assert all(p.exists() for p in files.values())
    assert [r["step"] for r in results["performance"]] == ["r_0", "r_1", "r_2", "model"]
