"""The tuning/ scripts run as they are (tiny settings as tune flags)."""

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest

# End-to-end runs: behind the `slow` marker (`python -m pytest -m slow`).
pytestmark = pytest.mark.slow

TUNING = Path(__file__).resolve().parents[2] / "tuning"
TINY = ["--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
        "--intermediate-dim", "32", "--batch-size", "64"]


@pytest.mark.parametrize("script, varied", [
    ("tune_erl_ml100k.py", "kl_weight"), ("tune_prl_ml100k.py", "base_temperature")])
def test_tuning_script(tmp_path, interactions, monkeypatch, script, varied):
    monkeypatch.syspath_prepend(str(TUNING))
    module = runpy.run_path(str(TUNING / script))
    out = tmp_path / "study"
    rc = module["main"](["--max-trials", "2", "--epochs", "1", "--space", "reasoning_steps=1",
                         *TINY, "--data-path", interactions, "--out", str(out),
                         "--no-baseline", "--quiet"])
    assert rc == 0
    # The script's recipe and grid, the user's flags on top.
    study = json.loads((out / "study.json").read_text())
    assert study["config"]["learning"] == script.split("_")[1]
    assert study["config"]["epochs"] == 1 and study["config"]["hidden_dim"] == 16
    assert study["search_space"]["reasoning_steps"] == 1 and varied in study["search_space"]
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 2 and set(table["reasoning_steps"]) == {1}
    assert module["main"](["--hidden-dim", "abc"]) == 2
