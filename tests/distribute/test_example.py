"""examples/distributed_training.py runs end to end on 2 CPU devices."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_training.py"


@pytest.mark.slow
def test_distributed_training_example(interactions, script_environment):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--data-path", interactions, "--epochs", "1",
         "--batch-size", "64", "--hidden-dim", "16", "--max-length", "10"],
        env=script_environment(), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "strategy mirrored: 2 replicas, global batch 64 (32 per replica)" in proc.stdout
    assert "reloaded without the strategy: test ndcg@20" in proc.stdout
