"""The losses scale correctly under tf.distribute (shared/PITFALLS.md).

Keras 3 divides by the number of replicas only inside `keras.losses.Loss`
reductions. The check runs in a subprocess because the 2 logical CPU devices
must be configured before TensorFlow initialises its devices.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

# tf.distribute is TensorFlow's own API; the subprocess forces
# KERAS_BACKEND=tensorflow, so other backends' runs skip this (it would only
# repeat the TensorFlow check, and needs TensorFlow installed).
pytestmark = pytest.mark.tf_only

SCRIPT = pathlib.Path(__file__).with_name("_distributed_loss_script.py")
REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def distributed_results():
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "tensorflow"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_replicas_match_one_replica(distributed_results):
    r = distributed_results
    assert r["replicas"] == 2
    assert r["loss_2_replicas"] == pytest.approx(r["loss_1_replica"], rel=1e-5)
    # One SGD step moved the weights, identically on 1 and 2 replicas.
    assert r["max_weight_update"] > 1e-3
    assert r["max_weight_diff"] < 1e-5


def test_check_detects_the_unscaled_mean_pitfall(distributed_results):
    # A plain mean inside compute_loss is counted once per replica: the same
    # harness must see the difference, or it could not catch a regression.
    r = distributed_results
    assert r["plain_mean_1_replica"] == pytest.approx(r["loss_1_replica"], rel=1e-5)
    assert r["plain_mean_2_replicas"] > r["plain_mean_1_replica"] + 1.0
    assert r["plain_mean_weight_diff"] > 1e-3
