"""The package imports fast: no TensorFlow/Keras, no network at import."""

import subprocess
import sys

CHECK = r"""
import socket, sys

def no_network(*args, **kwargs):
    raise AssertionError("network access during import")

socket.socket.connect = no_network
socket.create_connection = no_network
import rearec_keras
import rearec_keras.data, rearec_keras.datasets
heavy = sorted(m for m in ("tensorflow", "keras", "keras_rs", "keras_tuner", "torch", "jax")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
print("VERSION=" + rearec_keras.__version__)
"""


def test_import_is_light_and_offline():
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY=\n" in out
    assert "VERSION=0.1.0" in out


def test_lazy_public_names():
    import rearec_keras

    assert rearec_keras.load_movielens is rearec_keras.datasets.load_movielens
    assert callable(rearec_keras.evaluate)
    assert rearec_keras.evaluate is rearec_keras.evaluation.evaluate
    assert "RankingEvaluationCallback" in dir(rearec_keras)
    assert rearec_keras.ReaSASRecHyperModel is rearec_keras.tuning.ReaSASRecHyperModel
    try:
        rearec_keras.not_a_thing
    except AttributeError as e:
        assert "not_a_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")


# The import name of each core requirement, and where the package uses a
# requirement only through another library (tensorboard: keras' TensorBoard
# callback and KerasTuner's trials).
IMPORT_NAMES = {"keras-tuner": "keras_tuner", "pyyaml": "yaml", "tensorflow": "tensorflow"}
USED_THROUGH = {"tensorboard": "keras.callbacks.TensorBoard"}


def test_every_core_requirement_is_used_by_the_package():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()
    block = text[text.index("dependencies = ["):]
    block = block[:block.index("\n]")]
    names = [re.split(r"[\[<>=;! ]", line.strip().strip('",'))[0].lower()
             for line in block.splitlines()[1:] if line.strip().startswith('"')]
    assert "keras-rs" not in names  # the tests' oracle only (the `test` extra)
    sources = "\n".join(p.read_text() for p in (root / "rearec_keras").rglob("*.py"))
    for name in names:
        if name in USED_THROUGH:
            assert USED_THROUGH[name] in sources, name
            continue
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", sources, flags=re.M), (
            f"core requirement {name} is never imported by rearec_keras")
