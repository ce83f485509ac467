"""HSTU and ReaHSTU: the layer's equations against numpy, causality, the
cached reasoning loop against a full pass, save/load, training, and the
backbone registry / command line."""

import json
import math

import keras
import numpy as np
import pytest
from keras import ops

from rearec_keras.layers import HSTUBlock
from rearec_keras.layers import HSTUEncoder
from rearec_keras.layers import RelativeAttentionBias
from rearec_keras.layers import full_attention_mask
from rearec_keras.layers import item_attention_mask
from rearec_keras.layers.relative_attention_bias import time_buckets_of
from rearec_keras.models import HSTU
from rearec_keras.models import ReaHSTU

N_ITEMS = 30
L = 8
SMALL = dict(max_length=L, hidden_dim=16, num_layers=2, num_heads=2)
NO_DROPOUT = dict(dropout=0.0, attention_dropout=0.0, input_dropout=0.0)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def histories(batch=5, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(batch, L)).astype("int32")
    for row in range(batch):
        h[row, : rng.integers(0, L - 1)] = 0  # left padding, >= 1 real item
    return h


def timestamps(batch=5, seed=0):
    """Increasing int32 seconds, gaps from a second to about a month."""
    rng = np.random.default_rng(seed + 100)
    gaps = np.exp(rng.uniform(0, 15, size=(batch, L))).astype("int64")
    return (1_600_000_000 + np.cumsum(gaps, axis=1)).astype("int32")


def make(cls=ReaHSTU, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    if cls is ReaHSTU:
        kwargs.setdefault("learning", "erl")
    model = cls(N_ITEMS, **{**SMALL, **kwargs})
    model.build((None, L))
    return model


# --- the equations ----------------------------------------------------------


def test_time_buckets_by_hand():
    # floor(ln(max(|dt|, 1)) / 0.301): ln 2 / 0.301 = 2.30, ln 10 / 0.301 = 7.65,
    # ln 1000 / 0.301 = 22.95; ln 1e9 / 0.301 = 68.8 is clipped to 30 buckets.
    gaps = np.array([0, 1, -1, 2, 10, -1000, 1_000_000_000], "int32")
    np.testing.assert_array_equal(_np(time_buckets_of(gaps, 30)), [0, 0, 0, 2, 7, 22, 30])


def test_relative_position_bias_by_hand():
    bias = RelativeAttentionBias(max_length=3)
    bias.build()
    bias.position_bias.assign(np.array([10.0, 20.0, 30.0, 40.0, 50.0], "float32"))
    # w[(j - i) + n - 1]: the diagonal is w[2] = 30, one slot back w[1] = 20, ...
    out = _np(bias(np.arange(3), np.arange(3)))[0]
    np.testing.assert_array_equal(out, [[30, 40, 50], [20, 30, 40], [10, 20, 30]])
    # A query decoded alone at slot 2 gets the last row.
    np.testing.assert_array_equal(_np(bias(np.array([2]), np.arange(3)))[0], [[10, 20, 30]])
    # Distances beyond n - 1 share the last entry.
    np.testing.assert_array_equal(_np(bias(np.array([5]), np.arange(2)))[0], [[10, 10]])
    with pytest.raises(ValueError, match="time_buckets=0"):
        bias(np.arange(3), np.arange(3), np.zeros((1, 3)), np.zeros((1, 3)))


def _numpy_hstu_block(block, x, mask, ts=None, scaled=False):
    """HSTU's layer (Zhai et al. 2024, Eqs. 1-3) in plain numpy, one
    attention weight at a time."""
    eps = block.layer_norm_epsilon

    def ln(a):
        return (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + eps)

    def silu(a):
        return a / (1.0 + np.exp(-a))

    w1 = _np(block.uvqk.kernel)
    wp = _np(block.attention_bias.position_bias)
    wt = None if ts is None else _np(block.attention_bias.time_bias)
    w2, b2 = _np(block.output_dense.kernel), _np(block.output_dense.bias)
    d, heads, n = x.shape[-1], block.num_heads, block.max_length
    dh = d // heads
    uvqk = silu(ln(x) @ w1)
    u, v, q, k = (uvqk[..., i * d:(i + 1) * d] for i in range(4))
    av = np.zeros_like(x)
    batch, length = x.shape[:2]
    for b in range(batch):
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            for i in range(length):
                for j in range(length):
                    score = q[b, i, cols] @ k[b, j, cols]
                    if scaled:
                        score /= math.sqrt(dh)
                    score += wp[(j - i) + n - 1]
                    if ts is not None:
                        gap = max(abs(float(ts[b, i]) - float(ts[b, j])), 1.0)
                        score += wt[min(int(math.floor(math.log(gap) / 0.301)), len(wt) - 1)]
                    weight = silu(score) / n * mask[b, i, j]
                    av[b, i, cols] += weight * v[b, j, cols]
    return x + (ln(av) * u) @ w2 + b2


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("timed", [False, True])
def test_block_matches_the_equations_in_numpy(scaled, timed):
    keras.utils.set_random_seed(3)
    block = HSTUBlock(hidden_dim=4, num_heads=2, max_length=7, time_buckets=6 if timed else 0,
                      dropout=0.0, scaled_scores=scaled, layer_norm_epsilon=1e-6)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    pad = np.array([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    mask = _np(item_attention_mask(pad, "causal"))
    block.build(x.shape)
    # Non-trivial biases (the initial N(0, 0.02) ones are tiny).
    block.attention_bias.position_bias.assign(rng.normal(size=(13,)).astype("float32"))
    ts = None
    if timed:
        block.attention_bias.time_bias.assign(rng.normal(size=(7,)).astype("float32"))
        ts = np.array([[0, 5, 9, 300, 70000], [1, 2, 4, 8, 16]], "int32")
    # Larger projections, so that the attention weights are not all ~0.
    block.uvqk.kernel.assign(rng.normal(size=(4, 16)).astype("float32"))
    out, cache = block(x, attention_mask=mask, timestamps=ts, training=False)
    expected = _numpy_hstu_block(block, x, mask, ts, scaled)
    real = pad  # padding rows attend to nothing; only real rows are ever read
    np.testing.assert_allclose(_np(out)[real], expected[real], rtol=1e-4, atol=1e-5)
    assert _np(cache[0][0]).shape == (2, 2, 5, 2)  # keys [B, H, T, d / H]


# --- causality and padding ----------------------------------------------------


@pytest.mark.parametrize("timed", [False, True])
def test_causal_later_items_do_not_change_earlier_positions(timed):
    model = make(time_buckets=8 if timed else 0, **NO_DROPOUT)
    h = histories(seed=1)
    h[:, 3:] = np.maximum(h[:, 3:], 1)  # slots 3.. are real in every row
    ts = timestamps(seed=1) if timed else None
    encoder = model.reasoning.encoder

    def outputs(hist, stamps):
        x, pad = model._item_inputs(hist)
        z = model.reasoning.input_norm(x)
        out, _ = encoder(z, attention_mask=item_attention_mask(pad), timestamps=stamps)
        return _np(out)

    base = outputs(h, ts)
    changed = h.copy()
    changed[:, 5] = changed[:, 5] % N_ITEMS + 1
    after = outputs(changed, ts)
    np.testing.assert_allclose(after[:, :5], base[:, :5], atol=1e-6)
    assert np.abs(after[:, 5:] - base[:, 5:]).max() > 1e-4
    if timed:
        later = ts.copy()
        later[:, 6:] += 10_000_000
        moved = outputs(h, later)
        np.testing.assert_allclose(moved[:, :6], base[:, :6], atol=1e-6)
        assert np.abs(moved[:, 6:] - base[:, 6:]).max() > 1e-5


def test_extra_left_padding_changes_nothing():
    """`n` is a constant and the bias relative: a batch padded wider scores
    the same (the position embedding counts from the newest item)."""
    model = make(reasoning_steps=2)
    h = histories(seed=2)
    h[:, :3] = 0
    np.testing.assert_allclose(model.predict(h[:, 3:], verbose=0), model.predict(h, verbose=0),
                               rtol=1e-5, atol=1e-5)


# --- shapes and the reasoning loop ------------------------------------------


def test_output_shapes():
    h = histories()
    for model, steps in ((make(HSTU), 0), (make(reasoning_steps=3), 3)):
        assert model.predict(h, verbose=0).shape == (5, N_ITEMS + 1)
        assert model.reasoning_states(h).shape == (5, steps + 1, 16)
        assert tuple(model(h, training=True)["states"].shape) == (5, steps + 1, 16)
    assert type(make(HSTU).reasoning.encoder) is HSTUEncoder
    encoder = HSTUEncoder(num_layers=2, hidden_dim=8, num_heads=2, max_length=6)
    x = np.random.default_rng(0).normal(size=(3, 6, 8)).astype("float32")
    full, cache = encoder(x, attention_mask=item_attention_mask(np.ones((3, 6), bool)))
    last, _ = encoder(x, attention_mask=item_attention_mask(np.ones((3, 6), bool)),
                      output_last_only=True)
    assert tuple(full.shape) == (3, 6, 8) and tuple(last.shape) == (3, 1, 8)
    np.testing.assert_allclose(_np(last)[:, 0], _np(full)[:, -1], rtol=1e-5, atol=1e-6)
    assert len(cache["blocks"]) == 2 and "timestamps" not in cache


@pytest.mark.parametrize("timed", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_cached_reasoning_equals_recomputing_the_grown_sequence(k, timed):
    model = make(reasoning_steps=k, time_buckets=8 if timed else 0, seed=k)
    h = histories(seed=k)
    ts = timestamps(seed=k) if timed else None
    x, pad = model._item_inputs(h)
    reasoning = model.reasoning
    out = reasoning(x, pad, training=False, return_reasoning_inputs=True, timestamps=ts)
    states = _np(out["states"])
    # One pass over [items; reasoning tokens]: the tokens happen at the
    # newest item's time.
    z = reasoning.input_norm(ops.concatenate([x, out["reasoning_inputs"]], axis=1))
    grown_ts = None if ts is None else np.concatenate([ts, np.repeat(ts[:, -1:], k, 1)], 1)
    full, _ = reasoning.encoder(z, attention_mask=full_attention_mask(pad, k, "causal"),
                                timestamps=grown_ts, training=False)
    # r_0 sits at the newest item (slot L - 1), r_j at slot L - 1 + j.
    assert np.abs(_np(full)[:, L - 1:] - states).max() < 1e-5
    if timed:  # the time bias is in use
        plain = _np(reasoning(x, pad, training=False)["states"])
        assert np.abs(plain - states).max() > 1e-5


def test_per_user_halting_drops_rows_from_the_hstu_cache():
    model = make(reasoning_steps=3, learning="prl")
    h = histories(batch=8, seed=4)
    full = model.reasoning_states(h)
    for threshold in (float("inf"), -1.0, 1e-4):
        states, halts = model.halting_states(h, "kl", {"threshold": threshold})
        for row, stop in enumerate(halts):  # a stopped row's steps are the fixed-depth ones
            np.testing.assert_allclose(states[row, :stop + 1], full[row, :stop + 1],
                                       rtol=1e-5, atol=1e-6)
    assert set(model.halting_states(h, "kl", {"threshold": float("inf")})[1]) == {1}


def test_k0_is_the_base_model():
    reference = make(HSTU, **NO_DROPOUT)
    model = make(ReaHSTU, seed=1, reasoning_steps=0, **NO_DROPOUT)
    assert len(model.weights) == len(reference.weights)
    for a, b in zip(reference.weights, model.weights):
        b.assign(_np(a))
    h = histories()
    np.testing.assert_allclose(model.predict(h, verbose=0), reference.predict(h, verbose=0),
                               rtol=1e-6)


def test_timestamps_reach_the_model_through_a_dict_input():
    model = make(reasoning_steps=2, time_buckets=16)
    h, ts = histories(), timestamps()
    timed = _np(model({"histories": h, "timestamps": ts}))
    assert timed.shape == (5, N_ITEMS + 1)
    np.testing.assert_allclose(model.predict({"histories": h, "timestamps": ts}, verbose=0),
                               timed, rtol=1e-5, atol=1e-5)
    other = _np(model({"histories": h, "timestamps": timestamps(seed=7)}))
    assert np.abs(timed - other).max() > 1e-4  # the time bias reads them
    # A model with a time bias refuses plain histories (it would drop the bias).
    with pytest.raises(ValueError, match=r"has a time bias \(time_buckets=16\).*timestamps"):
        model(h)
    with pytest.raises(ValueError, match=r"time bias \(time_buckets=16\).*timestamps="):
        model.predict(h, verbose=0)
    # The noisy twin (PRL) carries the timestamps too.
    prl = make(reasoning_steps=2, time_buckets=16, learning="prl", phase="noise")
    out = prl({"histories": h, "timestamps": ts}, training=True)
    assert tuple(out["noisy_states"].shape) == (5, 3, 16)


def test_bad_settings_and_inputs_name_the_problem():
    h = histories()
    with pytest.raises(ValueError, match="HSTU is the base model without reasoning"):
        HSTU(N_ITEMS, reasoning_steps=2)
    with pytest.raises(ValueError, match="time_buckets"):
        ReaHSTU(N_ITEMS, time_buckets=-1)
    with pytest.raises(ValueError, match=r"no time bias \(time_buckets=0\)"):
        make()({"histories": h, "timestamps": timestamps()})
    with pytest.raises(ValueError, match="timestamps must have the histories' shape"):
        make(time_buckets=4)({"histories": h, "timestamps": timestamps()[:, 1:]})
    with pytest.raises(ValueError, match="divisible"):
        HSTUBlock(hidden_dim=6, num_heads=4, max_length=5)


# --- serialization ----------------------------------------------------------


def test_config_round_trip():
    for model in (make(reasoning_steps=2, time_buckets=8), make(HSTU)):
        clone = type(model).from_config(model.get_config())
        assert clone.get_config() == model.get_config()
    encoder = HSTUEncoder(2, 8, 2, 10, time_buckets=4, scaled_scores=True)
    assert HSTUEncoder.from_config(encoder.get_config()).get_config() == encoder.get_config()


@pytest.mark.parametrize("cls", [HSTU, ReaHSTU])
def test_keras_file_round_trip_gives_identical_scores(tmp_path, cls):
    extra = {} if cls is HSTU else dict(reasoning_steps=2, time_buckets=8)
    model = make(cls, **extra)
    path = tmp_path / "hstu.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode
    assert type(loaded) is cls
    h = histories()
    inputs = {"histories": h, "timestamps": timestamps()} if cls is ReaHSTU else h
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0),
                                  model.predict(inputs, verbose=0))
    if cls is ReaHSTU:
        np.testing.assert_array_equal(_np(loaded(inputs)), _np(model(inputs)))


# --- training ---------------------------------------------------------------


def _planted(n=320, seed=0):
    """The next item is the newest one plus 1 (mod the catalog)."""
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(n, L)).astype("int32")
    return h, (h[:, -1] % N_ITEMS + 1).astype("int32")


@pytest.mark.parametrize("timed", [False, True])
def test_fit_learns_planted_structure(timed):
    model = make(reasoning_steps=1, time_buckets=8 if timed else 0, dropout=0.1,
                 attention_dropout=0.0, input_dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    h, y = _planted()
    x = {"histories": h, "timestamps": timestamps(len(h))} if timed else h
    history = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    hits = np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y)
    assert hits > 0.5


# --- registry, command line and export --------------------------------------


def test_registered_backbone_builds_from_a_run_config(tiny_config):
    from rearec_keras import backbones
    from rearec_keras.experiments.factory import build_model

    spec = backbones.get_backbone("hstu")
    assert (spec.model_class(reasoning=False), spec.model_class(reasoning=True)) == (HSTU, ReaHSTU)
    assert spec.setting_names == ("time_buckets",) and not spec.item_features
    model = build_model(tiny_config.replace(backbone="hstu"), N_ITEMS)
    assert type(model) is ReaHSTU and model.learning == "erl"
    assert model.reasoning.encoder.max_length == 10 + model.reasoning_steps
    base = build_model(tiny_config.replace(backbone="hstu", learning="base"), N_ITEMS)
    assert type(base) is HSTU
    assert tiny_config.replace(backbone="hstu").describe() == "HSTU+ERL (K=2)"


def test_tuning_hypermodel_builds_hstu(tiny_config):
    keras_tuner = pytest.importorskip("keras_tuner")
    from rearec_keras.tuning import ReaHSTUHyperModel

    hypermodel = ReaHSTUHyperModel(N_ITEMS, config=tiny_config)
    assert hypermodel.config.backbone == "hstu"
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert type(model) is ReaHSTU and model.learning == "erl"


@pytest.mark.heavy
def test_cli_trains_hstu(tmp_path, interactions):
    from rearec_keras.cli import main

    run_dir = tmp_path / "hstu"
    assert main(["train", "--dataset", "table", "--data-path", interactions,
                 "--max-length", "10", "--hidden-dim", "16", "--batch-size", "64",
                 "--eval-batch-size", "64", "--backbone", "hstu", "--learning", "erl",
                 "--epochs", "1", "--run-dir", str(run_dir), "--quiet"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "HSTU+ERL (K=2)"
    assert len(metrics["test"]["steps"]) == 3
    best = keras.saving.load_model(run_dir / "best.keras")
    assert type(best) is ReaHSTU and best.reasoning_steps == 2


@pytest.mark.tf_only
def test_serving_export_encodes_as_the_model(tmp_path):
    from rearec_keras.serving import export_serving
    from rearec_keras.serving import load_serving

    model = make(reasoning_steps=2)
    export_serving(model, tmp_path / "served", max_k=5)
    served = load_serving(tmp_path / "served")
    h = histories()
    np.testing.assert_allclose(served.encode(h), _np(model.user_vectors(h)),
                               rtol=1e-5, atol=1e-5)
