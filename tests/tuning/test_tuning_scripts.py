"""The tuning/ scripts run as they are (tiny settings via --set)."""

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

TUNING = Path(__file__).resolve().parents[2] / "tuning"
TINY_SETTINGS = ["--set", "dataset=table", "--set", "max_length=10", "--set", "hidden_dim=16",
                 "--set", "intermediate_dim=32", "--set", "batch_size=64"]


@pytest.mark.parametrize("script, varied", [
    ("tune_erl_ml100k.py", "kl_weight"), ("tune_prl_ml100k.py", "base_temperature")])
def test_tuning_script(tmp_path, interactions, monkeypatch, capsys, script, varied):
    monkeypatch.syspath_prepend(str(TUNING))
    module = runpy.run_path(str(TUNING / script))
    out = tmp_path / "study"
    summary = module["main"](["--max-trials", "2", "--epochs", "1", "--reasoning-steps", "1",
                              *TINY_SETTINGS, "--set", f"data_path={interactions}",
                              "--out", str(out), "--no-baseline"])
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 2 and varied in table and set(table["reasoning_steps"]) == {1}
    assert summary["best_values"]["reasoning_steps"] == 1
    assert "best:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        module["main"](["--set", "hidden_dim=abc"])
    sys.modules.pop("_common", None)
