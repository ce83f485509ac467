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
