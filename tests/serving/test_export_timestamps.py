"""SavedModel export of HSTU with a time bias: an extra `timestamps` input
on every endpoint that reads histories, answering as `model.recommend`."""

import json

import keras
import numpy as np
import pytest

from rearec_keras.data import Vocabulary
from rearec_keras.models import ReaHSTU
from rearec_keras.serving import export_serving
from rearec_keras.serving import load_serving
from rearec_keras.serving.export import ExportError

pytestmark = pytest.mark.tf_only("writes a TensorFlow SavedModel")

N_ITEMS = 20
L = 6


def _model(time_buckets=10):
    keras.utils.set_random_seed(0)
    model = ReaHSTU(N_ITEMS, max_length=L, hidden_dim=8, num_heads=2, reasoning_steps=2,
                    learning="erl", time_buckets=time_buckets)
    model.build((None, L))
    if time_buckets:
        for block in model.reasoning.encoder.blocks:  # timestamps matter a lot
            block.attention_bias.time_bias.assign(
                np.linspace(-3, 3, time_buckets + 1).astype("float32"))
    return model


def _inputs(n=5, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(n, L)).astype("int32")
    h[0, :3] = 0
    gaps = np.exp(rng.uniform(0, 14, size=h.shape)).astype("int64")
    return h, np.where(h != 0, 1_700_000_000 + np.cumsum(gaps, axis=1), 0)


@pytest.fixture(scope="module")
def timed_export(tmp_path_factory):
    model = _model()
    vocabulary = Vocabulary(tuple(f"i{i}" for i in range(1, N_ITEMS + 1)))
    path = tmp_path_factory.mktemp("timed") / "export"
    info = export_serving(model, path, vocabulary=vocabulary)
    return model, path, info, vocabulary


def test_round_trip_with_timestamps(timed_export):
    model, path, info, vocabulary = timed_export
    served = load_serving(path)
    h, ts = _inputs()
    ids, scores = model.recommend(h, k=4, timestamps=ts)
    got_ids, got_scores = served.top_k(h, k=4, ids="internal", timestamps=ts)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_allclose(got_scores, scores, rtol=1e-5, atol=1e-5)
    unseen = model.recommend(h, k=4, exclude_history=True, timestamps=ts)[0]
    np.testing.assert_array_equal(
        served.top_k(h, k=4, exclude_history=True, ids="internal", timestamps=ts)[0], unseen)
    vectors = keras.ops.convert_to_numpy(model.user_vectors(
        {"histories": h, "timestamps": ts - ts[:, -1:]}))
    np.testing.assert_allclose(served.encode(h, ids="internal", timestamps=ts), vectors,
                               rtol=1e-5, atol=1e-5)
    # Other timestamps, other answer: the export reads them.
    assert not np.allclose(served.top_k(h, k=4, ids="internal", timestamps=ts // 2)[1],
                           got_scores)
    # Raw ids: ragged lists of the dataset's ids with one time per item.
    raw = [[f"i{i}" for i in row[row != 0]] for row in h]
    times = [list(t[row != 0]) for row, t in zip(h, ts)]
    raw_ids, raw_scores = served.top_k(raw, k=4, timestamps=times)
    np.testing.assert_array_equal(raw_ids, vocabulary.item_ids(ids))
    np.testing.assert_allclose(raw_scores, scores, rtol=1e-5, atol=1e-5)
    # The signature takes the timestamps between histories and k.
    out = served.saved_model.signatures["top_k"](
        histories=h, timestamps=ts.astype("int64"), k=np.int32(4))
    np.testing.assert_array_equal(out["ids"].numpy(), ids)


def test_serving_json_describes_the_timestamps_input(timed_export):
    _, path, info, _ = timed_export
    saved = json.loads((path / "serving.json").read_text())
    assert saved["timestamps"] is True and saved["time_buckets"] == 10
    for name in ("top_k", "top_k_unseen", "encode", "top_k_raw", "top_k_unseen_raw"):
        assert list(saved["endpoints"][name]["inputs"])[:2][-1] == "timestamps", name
    assert saved["endpoints"]["item_vectors"]["inputs"] == {}


def test_timestamp_errors_name_the_problem(timed_export, tmp_path):
    _, path, _, _ = timed_export
    served = load_serving(path)
    h, ts = _inputs()
    with pytest.raises(ValueError, match=r"time bias \(time_buckets=10\): pass timestamps="):
        served.top_k(h, k=3, ids="internal")
    with pytest.raises(ValueError, match=r"row 0 has 5 value\(s\) but its history has 6"):
        served.top_k(h, k=3, ids="internal", timestamps=[list(r) for r in ts[:, :5]])
    plain_path = tmp_path / "plain"
    info = export_serving(_model(0), plain_path)
    assert info["timestamps"] is False and "timestamps" not in info["endpoints"]["top_k"]["inputs"]
    with pytest.raises(ValueError, match="reads no timestamps"):
        load_serving(plain_path).top_k(h, k=3, timestamps=ts)
    with pytest.raises(ExportError, match="per-user halting does not feed timestamps"):
        export_serving(_model(), tmp_path / "halting", halting="kl")
