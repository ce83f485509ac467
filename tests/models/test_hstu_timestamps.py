"""HSTU's time bias fed through the numpy API: `score`, `recommend`,
`reasoning_states`, `predict`, training batches from a split part."""

import keras
import numpy as np
import pytest
from keras import ops

from rearec_keras import data
from rearec_keras.models import HSTU
from rearec_keras.models import ReaHSTU
from rearec_keras.models import ReaSASRec

N_ITEMS = 30
L = 8
SMALL = dict(max_length=L, hidden_dim=16, num_layers=2, num_heads=2, dropout=0.0,
             attention_dropout=0.0, input_dropout=0.0)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def histories(batch=6, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(batch, L)).astype("int32")
    for row in range(batch):
        h[row, : rng.integers(0, L - 1)] = 0
    return h


def timestamps(h, seed=0, start=1_600_000_000):
    """int64 seconds, increasing along each row; 0 in padding slots."""
    rng = np.random.default_rng(seed + 100)
    gaps = np.exp(rng.uniform(0, 15, size=h.shape)).astype("int64")
    return np.where(h != 0, start + np.cumsum(gaps, axis=1), 0).astype("int64")


def make(time_buckets=16, cls=ReaHSTU, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    if cls is ReaHSTU:
        kwargs.setdefault("learning", "erl")
        kwargs.setdefault("reasoning_steps", 2)
    model = cls(N_ITEMS, time_buckets=time_buckets, **{**SMALL, **kwargs})
    model.build((None, L))
    return model


def test_models_declare_whether_they_read_timestamps():
    assert make(16).uses_timestamps
    assert not make(0).uses_timestamps
    assert make(4, cls=HSTU).uses_timestamps
    keras.utils.set_random_seed(0)
    assert not ReaSASRec(N_ITEMS, **SMALL).uses_timestamps


def test_scores_follow_the_timestamps_only_with_a_time_bias():
    model = make(16)
    h = histories()
    ts = timestamps(h)
    scores = model.score(h, timestamps=ts)
    # Other gaps, other scores.
    assert np.abs(model.score(h, timestamps=timestamps(h, seed=3)) - scores).max() > 1e-4
    # Only gaps matter: a shift of every time, or any value in padding slots, changes nothing.
    np.testing.assert_allclose(model.score(h, timestamps=ts + 86_400 * 365), scores, atol=1e-5)
    noisy_padding = np.where(h == 0, 123_456_789, ts)
    np.testing.assert_allclose(model.score(h, timestamps=noisy_padding), scores, atol=1e-5)
    # A zero time bias: the timestamps have no effect.
    for block in model.reasoning.encoder.blocks:
        block.attention_bias.time_bias.assign(np.zeros(17, "float32"))
    np.testing.assert_allclose(model.score(h, timestamps=ts),
                               model.score(h, timestamps=timestamps(h, seed=3)), atol=1e-6)
    # A model without a time bias refuses timestamps rather than ignoring them.
    with pytest.raises(ValueError, match="does not read them"):
        make(0).score(h, timestamps=ts)


def test_every_entry_point_equals_the_model_call_on_the_dict():
    model = make(16)
    h = histories()
    ts = timestamps(h)
    inputs = {"histories": h, "timestamps": ts}
    expected = _np(model(inputs))
    np.testing.assert_allclose(model.score(h, timestamps=ts), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.score(inputs, batch_size=4), expected, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(inputs), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(model.user_vectors(inputs)) @ _np(model.item_vectors())[1:].T,
                               expected[:, 1:], rtol=1e-4, atol=1e-4)
    states = model.reasoning_states(inputs, batch_size=4)
    assert states.shape == (6, 3, 16)
    np.testing.assert_allclose(model.scores_from_states(states), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.step_scores(h, timestamps=ts),
                               model.scores_from_states(states, pooling="each"), rtol=1e-5,
                               atol=1e-5)
    ids, values = model.recommend(h, k=5, timestamps=ts)
    top = np.argsort(-expected[:, 1:], axis=1, kind="stable")[:, :5] + 1
    np.testing.assert_array_equal(ids, top)
    np.testing.assert_array_equal(model.recommend(inputs, k=5, batch_size=4)[0], ids)


def test_missing_or_bad_timestamps_name_the_problem():
    model = make(16)
    h = histories()
    for call in (lambda: model.score(h), lambda: model.recommend(h, k=3),
                 lambda: model.predict_on_batch(h), lambda: model.reasoning_states(h),
                 lambda: model.user_vectors(h)):
        with pytest.raises(ValueError, match=r"time bias \(time_buckets=16\).*timestamps"):
            call()
    with pytest.raises(ValueError, match=r"timestamps must have the histories' shape \(6, 8\)"):
        model.score(h, timestamps=timestamps(h)[:, 1:])
    with pytest.raises(ValueError, match="finite"):
        model.score(h, timestamps=np.full(h.shape, np.nan))
    with pytest.raises(ValueError, match="given twice"):
        model.score({"histories": h, "timestamps": timestamps(h)}, timestamps=timestamps(h))
    with pytest.raises(ValueError, match="per-user halting does not feed timestamps"):
        model.score_with_halting({"histories": h, "timestamps": timestamps(h)}, "kl")
    with pytest.raises(ValueError, match="per-user halting does not feed timestamps"):
        model.recommend(h, k=3, timestamps=timestamps(h), halting="kl")


def _part(n=96, seed=0):
    """Planted: the next item is the newest plus 1; times increase."""
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(n, L)).astype("int32")
    ts = timestamps(h, seed)
    return data.SplitPart("train", h, h[:, -1] % N_ITEMS + 1, np.arange(1, n + 1),
                          ts[:, -1] + 10, np.full(n, L), num_items=N_ITEMS,
                          history_timestamps=ts)


def test_fit_on_a_split_part_feeds_the_timestamps():
    model = make(8, reasoning_steps=1)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    part = _part()
    history = model.fit(part.for_model(model).as_dataset(32, shuffle=True, seed=0), epochs=2,
                        verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    # Plain history batches are refused by a model with a time bias.
    with pytest.raises(ValueError, match=r"time bias \(time_buckets=8\)"):
        model.fit(part.as_dataset(32), epochs=1, verbose=0)
    # A model without one trains on exactly the batches of before.
    plain = make(0, reasoning_steps=1)
    plain.compile(optimizer="adam")
    assert part.for_model(plain).timestamp_inputs is False
    plain.fit(part.for_model(plain).as_dataset(32), epochs=1, verbose=0)
