"""Smoke tests: the example scripts run end to end on real ml-100k at tiny size."""

import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_train_rearec_example(capsys):
    module = runpy.run_path(str(EXAMPLES / "train_rearec.py"))
    test = module["main"](["--epochs", "1", "--max-train-examples", "512", "--hidden-dim", "16"])
    assert set(test) >= {"ndcg@10", "ndcg@20", "recall@10", "recall@20"}
    assert 0.0 <= test["ndcg@20"] <= 1.0
    out = capsys.readouterr().out
    assert "reasoning state r_2" in out


def test_data_and_evaluation_example(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["data_and_evaluation.py"])
    runpy.run_path(str(EXAMPLES / "data_and_evaluation.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Markov   test" in out and "MostPop  test" in out
