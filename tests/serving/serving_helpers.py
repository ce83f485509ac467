"""Helpers of the serving tests: tiny models, histories, fresh-process reload."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

NUM_ITEMS = 30
MAX_LENGTH = 8
KS = (1, 5, NUM_ITEMS)
RELOAD_SCRIPT = pathlib.Path(__file__).with_name("_reload.py")


def make_model(learning="erl", reasoning_steps=2, seed=0, num_items=NUM_ITEMS, text=None):
    """A tiny ReaSASRec, or with `text="unisrec"/"morec"` a text backbone
    over random item features."""
    import keras

    from rearec_keras.models import ReaMoRec
    from rearec_keras.models import ReaSASRec
    from rearec_keras.models import ReaUniSRec
    from rearec_keras.models import SASRec

    keras.utils.set_random_seed(seed)
    kwargs = dict(max_length=MAX_LENGTH, hidden_dim=16, num_layers=1, num_heads=1,
                  intermediate_dim=16)
    if text is not None:
        cls = {"unisrec": ReaUniSRec, "morec": ReaMoRec}[text]
        features = np.random.default_rng(seed).normal(size=(num_items, 12))
        model = cls(num_items, item_features=features, reasoning_steps=reasoning_steps,
                    learning=learning, **kwargs)
    elif reasoning_steps == 0:
        model = SASRec(num_items, **kwargs)
    else:
        model = ReaSASRec(num_items, reasoning_steps=reasoning_steps, learning=learning, **kwargs)
    model.build((None, MAX_LENGTH))
    return model


def make_histories(seed=0, rows=12):
    """Left-padded rows of lengths 1..MAX_LENGTH, some with repeated items."""
    rng = np.random.default_rng(seed)
    out = np.zeros((rows, MAX_LENGTH), np.int32)
    for r in range(rows):
        n = r % MAX_LENGTH + 1
        out[r, MAX_LENGTH - n:] = rng.integers(1, NUM_ITEMS + 1, size=n)
    out[-1, -4:] = [7, 7, 3, 7]  # a repeated item counts once when excluded
    return out


def reload_fresh(jobs, tmp_path):
    """Runs `_reload.py` on `jobs` in a new process; returns its arrays."""
    jobs_path, out_path = tmp_path / "jobs.json", tmp_path / "reloaded.npz"
    jobs_path.write_text(json.dumps(jobs))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, str(RELOAD_SCRIPT), str(jobs_path), str(out_path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out_path) as data:
        return {key: data[key] for key in data.files}
