"""The zoo runs on JAX and PyTorch machines that have no TensorFlow, and a
`.keras` file saved on one Keras backend loads on another.

Each check runs in a subprocess: the Keras backend is fixed at import time.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def _installed(backend):
    return importlib.util.find_spec(backend) is not None


def _run(code, backend, *args, timeout=600):
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


# TensorFlow made uninstallable: `import tensorflow` raises
# ModuleNotFoundError and `importlib.util.find_spec("tensorflow")` is None,
# as on a machine without it (torch probes TensorFlow with find_spec, so a
# meta-path finder that raises would not look like a missing install).
WITHOUT_TENSORFLOW = r'''
import sys
sys.modules["tensorflow"] = None

import pathlib
import numpy as np
import keras
import rearec_keras
from rearec_keras.data import leave_one_out
from rearec_keras.data.batches import ArrayBatches
from rearec_keras.datasets import load_interactions
from rearec_keras.models import ReaSASRec

out = pathlib.Path(sys.argv[1])
assert keras.backend.backend() == sys.argv[2], keras.backend.backend()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
histories = rng.integers(1, 21, size=(64, 8)).astype("int32")
histories[:, :3] = 0
targets = rng.integers(1, 21, size=(64,)).astype("int32")

model = ReaSASRec(20, max_length=8, hidden_dim=8, num_layers=1, num_heads=2,
                  intermediate_dim=16, reasoning_steps=2, learning="prl",
                  noise_warmup_epochs=0)
model.compile(optimizer="adam")
history = model.fit(histories, targets, batch_size=16, epochs=1, verbose=0)
assert np.isfinite(history.history["loss"][0])
scores = model.score(histories[:4])
assert scores.shape == (4, 21) and np.all(scores[:, 0] == -1e9)
ids, _ = model.recommend(histories[:4], k=3)
assert ids.shape == (4, 3) and np.all(ids > 0)
print("metrics", rearec_keras.evaluate(model, (histories, targets)))

model.save(out / "model.keras")
restored = keras.saving.load_model(out / "model.keras")
np.testing.assert_allclose(restored.score(histories[:4]), scores, rtol=1e-5, atol=1e-5)

# The data pipeline falls back to a keras.utils.PyDataset ...
split = leave_one_out(load_interactions(sys.argv[3]), max_length=10)
batches = split.train.as_dataset(32, shuffle=True, seed=0)
assert isinstance(batches, ArrayBatches), type(batches)

# ... which the runner and CLI train on (tf.data and TensorBoard are the
# TensorFlow edges).
from rearec_keras.cli import main
run = out / "run"
assert main(["train", "--dataset", "table", "--data-path", sys.argv[3], "--max-length", "10",
             "--hidden-dim", "8", "--intermediate-dim", "16", "--batch-size", "64",
             "--epochs", "1", "--run-dir", str(run), "--quiet"]) == 0
assert (run / "metrics.json").exists() and not (run / "tensorboard").exists()
assert main(["recommend", str(run), "--user", "u3", "-k", "3"]) == 0
assert sys.modules["tensorflow"] is None, "TensorFlow was imported"
print("OK")
'''


def _no_tf_backend():
    """The backend under test, or (on TensorFlow) an installed other one."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return backend
    for other in ("jax", "torch"):
        if _installed(other):
            return other
    pytest.skip("neither jax nor torch is installed")


@pytest.mark.slow
def test_train_score_save_without_tensorflow(tmp_path, interactions):
    backend = _no_tf_backend()
    out = _run(WITHOUT_TENSORFLOW, backend, tmp_path, backend, interactions)
    assert out.strip().endswith("OK")


LOAD = r'''
import sys
import numpy as np
import keras
import rearec_keras.models  # registers the classes

directory = sys.argv[1]
histories = np.load(f"{directory}/histories.npy")
for name in ("ReaSASRec", "ReaBERT4Rec"):
    model = keras.saving.load_model(f"{directory}/{name}.keras")
    np.testing.assert_allclose(
        model.score(histories), np.load(f"{directory}/{name}.npy"), rtol=1e-4, atol=1e-4
    )
    model.fit(histories, histories[:, -1], epochs=1, verbose=0)  # trains on
print("OK", keras.backend.backend())
'''


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """An ERL ReaSASRec and a PRL ReaBERT4Rec trained and saved on the
    backend under test, with their scores."""
    from rearec_keras.models import ReaBERT4Rec
    from rearec_keras.models import ReaSASRec

    directory = tmp_path_factory.mktemp("saved")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    histories = rng.integers(1, 21, size=(32, 8)).astype("int32")
    histories[:, :3] = 0
    targets = rng.integers(1, 21, size=(32,)).astype("int32")
    np.save(directory / "histories.npy", histories)
    for cls, learning in ((ReaSASRec, "erl"), (ReaBERT4Rec, "prl")):
        model = cls(20, max_length=8, hidden_dim=8, num_layers=1, num_heads=2,
                    intermediate_dim=16, reasoning_steps=2, learning=learning)
        model.compile(optimizer="adam")
        model.fit(histories, targets, batch_size=16, epochs=1, verbose=0)
        model.save(directory / f"{cls.__name__}.keras")
        np.save(directory / f"{cls.__name__}.npy", model.score(histories))
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("target", BACKENDS)
def test_keras_file_loads_on_another_backend(saved_models, target):
    if target == keras.backend.backend():
        pytest.skip("same backend (tests/models covers the round trip)")
    if not _installed(target):
        pytest.skip(f"{target} is not installed")
    assert _run(LOAD, target, saved_models).strip() == f"OK {target}"


def test_compile_config_names_no_backend_class_or_resolved_jit():
    from rearec_keras.models import SASRec

    model = SASRec(20, max_length=8, hidden_dim=8, num_layers=1, intermediate_dim=16)
    model.compile(optimizer="adam")
    config = model.get_compile_config()
    assert config["jit_compile"] == "auto"  # not this backend's resolution of it
    assert config["optimizer"]["module"] == "keras.optimizers"
    assert config["optimizer"]["class_name"] == "Adam"
    # An explicit choice other than what "auto" means here is kept (JAX:
    # False stays False; on a TensorFlow CPU or PyTorch it is "auto" anyway).
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    config = model.get_compile_config()
    assert config["jit_compile"] == (False if model._resolve_auto_jit_compile() else "auto")
    assert config["optimizer"]["module"] == "keras.optimizers"
