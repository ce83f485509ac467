"""`export_serving`: the SavedModel read back in a fresh process answers as
the Keras model does; options, errors and `load_serving`."""

import json
import subprocess
import sys

import numpy as np
import pytest

from serving_helpers import KS
from serving_helpers import MAX_LENGTH
from serving_helpers import NUM_ITEMS
from serving_helpers import make_histories
from serving_helpers import make_model

MODELS = ("base", "erl", "prl", "unisrec", "morec")


@pytest.fixture(scope="module")
def loaded_prl(served):
    from rearec_keras.serving import load_serving

    return load_serving(served["exports"]["prl"])


def test_reloading_needs_tensorflow_only(served):
    reloaded = served["reloaded"]
    assert not reloaded["rearec_keras_imported"]
    for name in served["exports"]:
        assert set(reloaded[f"{name}/signatures"]) == {
            "top_k", "top_k_unseen", "encode", "item_vectors", "serving_default"}


@pytest.mark.parametrize("name", MODELS)
def test_encode_and_item_vectors_match_the_model(served, name):
    model, reloaded = served["models"][name], served["reloaded"]
    expected = np.asarray(model.user_vectors(served["histories"]))
    np.testing.assert_allclose(reloaded[f"{name}/encode"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(reloaded[f"{name}/item_vectors"], np.asarray(model.item_vectors()))
    # encode · item_vectorsᵀ are the model's scores (padding column aside)
    scores = reloaded[f"{name}/encode"] @ reloaded[f"{name}/item_vectors"].T
    np.testing.assert_allclose(scores[:, 1:], model.predict(served["histories"], verbose=0)[:, 1:],
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("k", KS)
def test_top_k_matches_recommend(served, name, k):
    model, reloaded = served["models"][name], served["reloaded"]
    ids, scores = model.recommend(served["histories"], k=k)
    np.testing.assert_array_equal(reloaded[f"{name}/top_k/{k}/ids"], ids)
    np.testing.assert_allclose(reloaded[f"{name}/top_k/{k}/scores"], scores, rtol=1e-5, atol=1e-5)
    assert reloaded[f"{name}/top_k/{k}/ids"].dtype == np.int32
    assert reloaded[f"{name}/top_k/{k}/scores"].dtype == np.float32


@pytest.mark.parametrize("name", MODELS)
def test_signatures_answer_as_the_functions(served, name):
    reloaded = served["reloaded"]
    for endpoint in ("top_k", "top_k_unseen"):
        np.testing.assert_array_equal(reloaded[f"{name}/signature/{endpoint}/{KS[0]}/ids"],
                                      reloaded[f"{name}/{endpoint}/{KS[0]}/ids"])


@pytest.mark.parametrize("name", MODELS)
def test_top_k_unseen_matches_recommend_excluding_history(served, name):
    model, reloaded, histories = served["models"][name], served["reloaded"], served["histories"]
    unseen = NUM_ITEMS - max(len(set(row[row > 0])) for row in histories)
    for k in (1, 5):
        ids, scores = model.recommend(histories, k=k, exclude_history=True)
        np.testing.assert_array_equal(reloaded[f"{name}/top_k_unseen/{k}/ids"], ids)
        np.testing.assert_allclose(reloaded[f"{name}/top_k_unseen/{k}/scores"], scores,
                                   rtol=1e-5, atol=1e-5)
    # k = the whole catalog: every item once, the history items last at -inf
    ids = reloaded[f"{name}/top_k_unseen/{NUM_ITEMS}/ids"]
    scores = reloaded[f"{name}/top_k_unseen/{NUM_ITEMS}/scores"]
    assert NUM_ITEMS > unseen
    for row, history in enumerate(histories):
        seen = set(history[history > 0].tolist())
        assert sorted(ids[row]) == list(range(1, NUM_ITEMS + 1))
        tail = NUM_ITEMS - len(seen)
        assert set(ids[row, tail:].tolist()) == seen
        assert np.all(np.isneginf(scores[row, tail:]))
        assert np.all(np.isfinite(scores[row, :tail]))
        assert not seen & set(ids[row, :tail].tolist())


def test_padding_is_never_returned_and_ties_go_to_the_lower_id(served):
    """All item vectors equal: every score ties, so the order is the tie rule
    (lower id first), and id 0 never shows up, even for k = num_items."""
    model, reloaded, histories = served["models"]["ties"], served["reloaded"], served["histories"]
    for k in KS:
        ids = reloaded[f"ties/top_k/{k}/ids"]
        np.testing.assert_array_equal(ids, np.tile(np.arange(1, k + 1), (len(histories), 1)))
        expected_ids, expected_scores = model.recommend(histories, k=k)
        assert not (expected_ids == 0).any()
        np.testing.assert_allclose(reloaded[f"ties/top_k/{k}/scores"], expected_scores, rtol=1e-5)
    # excluding the history: the unseen items in id order
    for row, history in enumerate(histories):
        unseen = [i for i in range(1, NUM_ITEMS + 1) if i not in set(history.tolist())]
        np.testing.assert_array_equal(reloaded["ties/top_k_unseen/5/ids"][row], unseen[:5])


def test_serving_json_describes_the_export(served):
    info = json.loads((served["exports"]["prl"] / "serving.json").read_text())
    assert info["format"] == "rearec_keras.serving/1"
    assert info["model"] == "ReaSASRec"
    assert (info["num_items"], info["max_length"], info["hidden_dim"]) == (NUM_ITEMS, MAX_LENGTH, 16)
    assert (info["reasoning_steps"], info["trained_reasoning_steps"]) == (2, 2)
    assert (info["learning"], info["inference_pooling"]) == ("prl", "last")
    assert info["max_k"] == NUM_ITEMS
    assert list(info["endpoints"]) == ["top_k", "top_k_unseen", "encode", "item_vectors"]
    base = json.loads((served["exports"]["base"] / "serving.json").read_text())
    assert (base["model"], base["reasoning_steps"]) == ("SASRec", 0)
    erl = json.loads((served["exports"]["erl"] / "serving.json").read_text())
    assert (erl["learning"], erl["inference_pooling"]) == ("erl", "mean")


def test_load_serving_pads_short_histories_and_returns_numpy(served):
    from rearec_keras.serving import load_serving

    model = served["models"]["erl"]
    served_model = load_serving(served["exports"]["erl"])
    assert (served_model.num_items, served_model.max_length) == (NUM_ITEMS, MAX_LENGTH)
    short = [[0, 4, 9], [1, 2, 3]]
    padded = np.zeros((2, MAX_LENGTH), np.int32)
    padded[:, -3:] = short
    ids, scores = served_model.top_k(short, k=4, exclude_history=True)
    expected_ids, expected_scores = model.recommend(padded, k=4, exclude_history=True)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    assert isinstance(ids, np.ndarray) and isinstance(scores, np.ndarray)
    np.testing.assert_allclose(served_model.encode(short), np.asarray(model.user_vectors(padded)),
                               rtol=1e-5, atol=1e-5)
    assert served_model.item_vectors().shape == (NUM_ITEMS + 1, 16)


@pytest.mark.parametrize("histories, k, message", [
    ([[0, 1, NUM_ITEMS + 1]], 3, f"item id above {NUM_ITEMS}"),
    ([[0, -2, 5]], 3, "negative item id"),
    ([[1, 2], [0, 0]], 3, "history row is empty"),
    ([list(range(1, MAX_LENGTH + 2))], 3, f"max_length={MAX_LENGTH}"),
    ([[1.0, 2.0]], 3, "integer item ids"),
    ([1, 2, 3], 3, "2-D"),
    ([[1, 2]], 0, "k"),
    ([[1, 2]], NUM_ITEMS + 1, "k"),
])
def test_load_serving_input_errors(loaded_prl, histories, k, message):
    with pytest.raises(ValueError, match=message):
        loaded_prl.top_k(histories, k=k)


def test_the_graph_itself_checks_its_inputs(loaded_prl):
    """Without the wrapper (what TF Serving runs): bad ids, empty rows and k
    out of range fail with messages that name the problem."""
    import tensorflow as tf

    loaded = loaded_prl.saved_model
    good = make_histories()[:2]
    bad_id = good.copy()
    bad_id[0, -1] = NUM_ITEMS + 5
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"item id above {NUM_ITEMS}"):
        loaded.top_k(bad_id, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"item id above {NUM_ITEMS}"):
        loaded.encode(bad_id)
    empty = good.copy()
    empty[1] = 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="history row is empty"):
        loaded.top_k_unseen(empty, 3)
    for k in (0, -1, NUM_ITEMS + 1):
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"k must be in 1\.\.{NUM_ITEMS}"):
            loaded.top_k(good, k)
    with pytest.raises(TypeError, match="histories"):  # the signature fixes the length
        loaded.top_k(good[:, 1:], 3)


def test_max_k_and_fewer_steps(tmp_path):
    from rearec_keras.serving import load_serving
    from rearec_keras.serving.export import export_serving

    model = make_model("prl", seed=5)
    info = export_serving(model, tmp_path / "k1", max_k=5, steps=1)
    assert (info["max_k"], info["reasoning_steps"], info["trained_reasoning_steps"]) == (5, 1, 2)
    served_model = load_serving(tmp_path / "k1")
    histories = make_histories(seed=1)
    ids, scores = served_model.top_k(histories, k=5)
    expected_ids, expected_scores = model.recommend(histories, k=5, steps=1)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    # served with K=1, not K=2
    assert not np.array_equal(served_model.encode(histories), np.asarray(model.user_vectors(histories)))
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"k must be in 1\.\.5"):
        served_model.saved_model.top_k(histories, 6)
    with pytest.raises(ValueError, match="k"):
        served_model.top_k(histories, k=6)


def test_export_option_errors(tmp_path):
    from rearec_keras.serving import ExportError
    from rearec_keras.serving import export_serving

    model = make_model(reasoning_steps=0, seed=6)
    for kwargs, message in [({"max_k": 0}, "max_k"), ({"max_k": NUM_ITEMS + 1}, "max_k"),
                            ({"steps": 1}, "steps"), ({"steps": -1}, "steps")]:
        with pytest.raises(ExportError, match=message):
            export_serving(model, tmp_path / "bad", **kwargs)
        assert not (tmp_path / "bad").exists()
    export_serving(model, tmp_path / "out")
    with pytest.raises(ExportError, match="already exists.*overwrite=True"):
        export_serving(model, tmp_path / "out")
    export_serving(model, tmp_path / "out", overwrite=True, max_k=3)
    assert json.loads((tmp_path / "out" / "serving.json").read_text())["max_k"] == 3
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an earlier export"):
        export_serving(model, other, overwrite=True)
    assert (other / "todo.txt").read_text() == "keep me"
    with pytest.raises(TypeError, match="ReaRec model"):
        export_serving(object(), tmp_path / "x")


def test_load_serving_refuses_a_directory_without_serving_json(tmp_path):
    from rearec_keras.serving import load_serving

    with pytest.raises(FileNotFoundError, match="serving.json"):
        load_serving(tmp_path)


def test_other_backends_are_refused(tmp_path, monkeypatch):
    import keras

    from rearec_keras.serving import export_serving

    model = make_model(reasoning_steps=0, seed=7)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match="needs the TensorFlow backend; the Keras backend is 'jax'"):
        export_serving(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_importing_serving_is_light():
    """`python -m rearec_keras.serving.tfrs_index` must be able to set
    TF_USE_LEGACY_KERAS before TensorFlow starts: the package imports
    neither TensorFlow nor Keras until a function needs them."""
    check = ("import sys, rearec_keras.serving, rearec_keras.serving.export, "
             "rearec_keras.serving.tfrs_index\n"
             "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _mixed_kl_threshold(model, histories):
    """A KL threshold at which some users halt at step 1 and others run on."""
    for threshold in np.geomspace(1e-6, 10.0, 57):
        _, halts = model.score_with_halting(histories, "kl", {"threshold": threshold})
        if 0 < np.sum(halts == 1) < len(halts):
            return float(threshold), halts
    raise AssertionError("no threshold splits the users")


def test_export_with_per_user_halting_answers_as_recommend(tmp_path):
    from rearec_keras.serving import load_serving
    from rearec_keras.serving.export import export_serving

    model = make_model("prl", reasoning_steps=3, seed=7)
    histories = make_histories(seed=2, rows=24)
    threshold, halts = _mixed_kl_threshold(model, histories)
    info = export_serving(model, tmp_path / "halting", halting="kl",
                          thresholds={"threshold": threshold})
    assert info["halting"] == {"mode": "kl", "thresholds": {"threshold": threshold}}
    assert "halting_steps" in info["endpoints"]
    served_model = load_serving(tmp_path / "halting")
    np.testing.assert_array_equal(served_model.halting_steps(histories), halts)
    for k in (1, 5):
        ids, scores = served_model.top_k(histories, k=k, exclude_history=True)
        expected_ids, expected_scores = model.recommend(
            histories, k=k, exclude_history=True, halting="kl", thresholds={"threshold": threshold})
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    # A user's answer does not depend on the others in its batch.
    for row in (0, 5, 23):
        alone, _ = served_model.top_k(histories[row:row + 1], k=5)
        np.testing.assert_array_equal(alone[0], served_model.top_k(histories, k=5)[0][row])
    # Halting everyone at step 1 serves exactly the one-step model.
    export_serving(model, tmp_path / "one", halting="kl", thresholds={"threshold": np.inf})
    one_step = load_serving(tmp_path / "one")
    np.testing.assert_array_equal(one_step.halting_steps(histories), 1)
    np.testing.assert_allclose(one_step.encode(histories),
                               np.asarray(model.user_vectors(histories, steps=1)), atol=1e-5)


def test_export_with_the_learned_halting_head_of_dtrec(tmp_path):
    from rearec_keras import DTRec
    from rearec_keras.serving import load_serving
    from rearec_keras.serving.export import export_serving

    model = DTRec(NUM_ITEMS, max_length=MAX_LENGTH, hidden_dim=16, num_layers=1, num_heads=1,
                  intermediate_dim=16)
    model.build((None, MAX_LENGTH))
    histories = make_histories(seed=3)
    export_serving(model, tmp_path / "dtrec", halting="learned")
    served_model = load_serving(tmp_path / "dtrec")
    _, halts = model.score_with_halting(histories, "learned")
    np.testing.assert_array_equal(served_model.halting_steps(histories), halts)
    ids, _ = served_model.top_k(histories, k=5)
    np.testing.assert_array_equal(ids, model.recommend(histories, k=5, halting="learned")[0])


def test_halting_export_errors(tmp_path):
    from rearec_keras.serving import ExportError
    from rearec_keras.serving import load_serving
    from rearec_keras.serving.export import export_serving

    base = make_model(reasoning_steps=0, seed=8)
    prl = make_model("prl", seed=8)
    for model, kwargs, message in [
            (base, {"halting": "kl"}, "needs reasoning steps"),
            (prl, {"halting": "kl", "steps": 0}, "needs reasoning steps"),
            (prl, {"halting": "often"}, "halting mode must be one of"),
            (prl, {"halting": "kl", "thresholds": {"confidence": 0.2}}, "unknown"),
            (prl, {"halting": "learned"}, "halting head"),
            (prl, {"thresholds": {"threshold": 0.1}}, "without a halting mode")]:
        with pytest.raises(ExportError, match=message):
            export_serving(model, tmp_path / "bad", **kwargs)
        assert not (tmp_path / "bad").exists()
    export_serving(prl, tmp_path / "plain")
    with pytest.raises(ValueError, match="exported without halting"):
        load_serving(tmp_path / "plain").halting_steps(make_histories())


def test_export_with_a_vocabulary_speaks_the_datasets_ids(tmp_path):
    import tensorflow as tf

    from rearec_keras.data import Vocabulary
    from rearec_keras.serving import load_serving
    from rearec_keras.serving.export import export_serving

    model = make_model("prl", seed=9)
    names = tuple(f"sku-{(7 * i) % 101:03d}" for i in range(1, NUM_ITEMS + 1))
    titles = tuple(None if i % 4 == 0 else f"Item {i}" for i in range(1, NUM_ITEMS + 1))
    vocab = Vocabulary(names, titles=titles)
    info = export_serving(model, tmp_path / "raw", vocabulary=vocab)
    assert {"top_k_raw", "top_k_unseen_raw"} <= set(info["endpoints"])
    assert info["vocabulary"] == {"file": "vocabulary.json", "id_type": "str", "titles": True}
    served_model = load_serving(tmp_path / "raw")
    assert served_model.vocabulary == vocab
    histories = make_histories(seed=4)
    raw = [[names[i - 1] for i in row if i] for row in histories]
    for exclude in (False, True):
        ids, scores = served_model.top_k(raw, k=5, exclude_history=exclude)
        expected_ids, expected_scores = model.recommend(histories, k=5, exclude_history=exclude)
        assert ids.tolist() == [[names[i - 1] for i in row] for row in expected_ids]
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
        internal, _ = served_model.top_k(histories, k=5, exclude_history=exclude, ids="internal")
        np.testing.assert_array_equal(internal, expected_ids)
    assert list(served_model.titles(ids[0])) == [titles[names.index(n)] for n in ids[0]]
    np.testing.assert_array_equal(served_model.encode(raw),
                                  served_model.encode(histories, ids="internal"))
    with pytest.raises(ValueError, match=r"unknown item id\(s\) 'nope'"):
        served_model.top_k([[names[0], "nope"]], k=3)
    # The graph itself refuses an unknown id, naming it.
    padded = np.array([[""] * (MAX_LENGTH - 2) + [names[0], "nope"]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown item id.*nope"):
        served_model.saved_model.top_k_raw(padded, 3)
    # Integer ids come back as integers; an export without a vocabulary says so.
    numbers = Vocabulary(tuple(1000 + i for i in range(NUM_ITEMS)))
    export_serving(model, tmp_path / "ints", vocabulary=numbers)
    int_ids, _ = load_serving(tmp_path / "ints").top_k([[1000, 1001], [1005]], k=2)
    assert int_ids.dtype == np.int64 and int_ids.min() >= 1000
    export_serving(model, tmp_path / "plain")
    with pytest.raises(ValueError, match="without a vocabulary"):
        load_serving(tmp_path / "plain").top_k([["a"]], k=2, ids="raw")
    with pytest.raises(Exception, match="vocabulary lists 2 items"):
        export_serving(model, tmp_path / "bad", vocabulary=Vocabulary(("a", "b")))
