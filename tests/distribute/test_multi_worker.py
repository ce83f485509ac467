"""MultiWorkerMirroredStrategy: 2 worker processes on 127.0.0.1.

Each worker (TF_CONFIG names both, on free ports) trains the ERL model of
`_common` on the same 2 global batches of 8, sharded by `prepare_dataset`
so that each worker processes 4 rows per step; a third process trains the
same model on one device. Both workers must end with the single-process
weights and loss. Then both run `train_run(strategy="multi_worker")` on the
synthetic interactions: the chief writes the run directory, the other
worker its own `workers/worker-1`, and both report the same metrics.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, interactions, script_environment, free_port_finder):
    out = tmp_path_factory.mktemp("multi_worker")
    ports = free_port_finder(2)
    workers = [f"127.0.0.1:{p}" for p in ports]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = script_environment(TF_CONFIG=json.dumps(tf_config))
        procs.append(subprocess.Popen(
            [sys.executable, str(HERE / "_multi_worker_script.py"), "worker", str(out),
             interactions],
            cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    single = subprocess.run(
        [sys.executable, str(HERE / "_multi_worker_script.py"), "single", str(out)],
        cwd=HERE, env=script_environment(), capture_output=True, text=True, timeout=600,
    )
    errors = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0:
            errors.append(err[-3000:])
    assert not errors, "\n\n".join(errors)
    assert single.returncode == 0, single.stderr[-3000:]
    read = lambda name: (json.loads((out / f"{name}.json").read_text()),  # noqa: E731
                         list(np.load(out / f"{name}.npz").values()))
    return out, {name: read(name) for name in ("single", "worker-0", "worker-1")}


def test_each_worker_processes_its_share_of_every_global_batch(cluster):
    _, runs = cluster
    single = runs["single"][0]["step_rows"]
    first, second = runs["worker-0"][0]["step_rows"], runs["worker-1"][0]["step_rows"]
    assert len(single) == len(first) == len(second) == 2
    for step, rows in enumerate(single):
        assert len(first[step]) == len(second[step]) == len(rows) // 2
        assert sorted(first[step] + second[step]) == sorted(rows)


def test_both_workers_end_with_the_single_process_weights(cluster):
    _, runs = cluster
    single_result, single_weights = runs["single"]
    assert single_result["replicas"] == 1
    assert single_result["max_weight_update"] > 1e-2
    for name in ("worker-0", "worker-1"):
        result, weights = runs[name]
        assert result["replicas"] == 2
        assert result["loss"] == pytest.approx(single_result["loss"], rel=1e-5)
        assert len(weights) == len(single_weights)
        for a, b in zip(weights, single_weights):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert runs["worker-0"][0]["is_chief"] and not runs["worker-1"][0]["is_chief"]


def test_train_run_writes_the_chief_run_and_a_worker_directory(cluster):
    import keras

    import rearec_keras.models  # noqa: F401  (registers the classes to load)

    out, runs = cluster
    chief, worker = runs["worker-0"][0], runs["worker-1"][0]
    assert chief["run_dir"] == str(out / "run")
    assert worker["run_dir"] == str(out / "run" / "workers" / "worker-1")
    assert chief["run_test_metrics"] == worker["run_test_metrics"]
    stored = json.loads((out / "run" / "metrics.json").read_text())
    assert stored["test"]["final"] == chief["run_test_metrics"]
    assert json.loads((out / "run" / "config.json").read_text())["strategy"] == "multi_worker"
    model = keras.saving.load_model(out / "run" / "best.keras")  # no strategy here
    scores = model.predict(np.array([[0] * 9 + [1]], dtype="int32"), verbose=0)
    assert scores.shape == (1, stored["num_items"] + 1)
