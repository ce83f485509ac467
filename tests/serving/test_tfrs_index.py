"""The TFRS adapter: indexes built in a legacy-Keras child process from an
export return the library's top-k (read back in a fresh process)."""

import importlib.util
import json
import sys

import numpy as np
import pytest

from serving_helpers import MAX_LENGTH
from serving_helpers import NUM_ITEMS
from serving_helpers import reload_fresh

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_recommenders") is None,
    reason="tensorflow-recommenders is not installed (pip install 'rearec-keras[tfrs]')")

KINDS = ("brute_force", "streaming")
TFRS_KS = (1, 5, NUM_ITEMS - MAX_LENGTH)  # top_k_unseen needs k + max_length <= num_items


@pytest.fixture(scope="module")
def indexes(served, tmp_path_factory):
    from rearec_keras.serving import build_tfrs_index

    root = tmp_path_factory.mktemp("tfrs")
    paths = {kind: build_tfrs_index(served["exports"]["prl"], root / kind, kind=kind, batch_size=7)
             for kind in KINDS}
    jobs = [{"name": kind, "path": str(path), "kind": "tfrs",
             "histories": served["histories"].tolist(), "ks": list(TFRS_KS)}
            for kind, path in paths.items()]
    return {"paths": paths, "reloaded": reload_fresh(jobs, tmp_path_factory.mktemp("tfrs_reload"))}


def test_tfrs_never_ran_in_this_process(indexes):
    assert "tensorflow_recommenders" not in sys.modules


@pytest.mark.parametrize("kind", KINDS)
def test_tfrs_index_returns_the_library_top_k(served, indexes, kind):
    model, histories, reloaded = served["models"]["prl"], served["histories"], indexes["reloaded"]
    assert set(reloaded[f"{kind}/signatures"]) == {"serving_default", "top_k", "top_k_unseen"}
    for k in TFRS_KS:
        for endpoint, exclude in (("top_k", False), ("top_k_unseen", True)):
            ids, scores = model.recommend(histories, k=k, exclude_history=exclude)
            np.testing.assert_array_equal(reloaded[f"{kind}/{endpoint}/{k}/ids"], ids)
            np.testing.assert_allclose(reloaded[f"{kind}/{endpoint}/{k}/scores"], scores,
                                       rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_tfrs_index_json(served, indexes, kind):
    info = json.loads((indexes["paths"][kind] / "tfrs_index.json").read_text())
    assert info["kind"] == kind
    assert info["tfrs_layer"] == {"brute_force": "BruteForce", "streaming": "Streaming"}[kind]
    assert (info["num_items"], info["max_length"], info["max_k"]) == (NUM_ITEMS, MAX_LENGTH, NUM_ITEMS)
    assert info["batch_size"] == (7 if kind == "streaming" else None)


def test_tfrs_index_checks_k(indexes):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(indexes["paths"]["brute_force"]))
    histories = np.ones((1, MAX_LENGTH), np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"k must be in 1\.\.{NUM_ITEMS}"):
        loaded.top_k(histories, NUM_ITEMS + 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="k \\+ max_length"):
        loaded.top_k_unseen(histories, NUM_ITEMS - MAX_LENGTH + 1)


def test_build_tfrs_index_argument_errors(served, indexes, tmp_path):
    from rearec_keras.serving import build_tfrs_index

    export = served["exports"]["prl"]
    with pytest.raises(ValueError, match="kind"):
        build_tfrs_index(export, tmp_path / "x", kind="scann")
    with pytest.raises(ValueError, match="batch_size"):
        build_tfrs_index(export, tmp_path / "x", kind="streaming", batch_size=0)
    with pytest.raises(ValueError, match="not a serving export"):
        build_tfrs_index(tmp_path, tmp_path / "x")
    with pytest.raises(ValueError, match="already exists"):
        build_tfrs_index(export, indexes["paths"]["brute_force"])
    with pytest.raises(ValueError, match="not an earlier TFRS index"):
        build_tfrs_index(export, export, overwrite=True)
