"""LARES' depth-recurrent reasoner (`DepthRecurrentReasoning`): the spec's
§10 items 1-5 (lares.md), on every backend."""

import keras
import numpy as np
import pytest

from rearec_keras.layers.depth_recurrent import DepthRecurrentReasoning
from rearec_keras.layers.depth_recurrent import depth_cap
from rearec_keras.layers.depth_recurrent import sample_depths
from rearec_keras.layers.depth_recurrent import truncated_normal_3sigma

np_ = keras.ops.convert_to_numpy
D, L = 16, 6


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, L, D)).astype("float32")
    mask = np.ones((3, L), bool)
    mask[0, :2] = False  # left padding
    return x, mask


def _reasoner(**kwargs):
    kwargs.setdefault("dropout", 0.0)
    r = DepthRecurrentReasoning(D, num_heads=2, intermediate_dim=32, seed=3, **kwargs)
    r(*_inputs())
    return r


def test_parameters_do_not_depend_on_the_depth_and_any_depth_runs():
    r = _reasoner(state_init="zero")
    params = r.count_params()
    x, mask = _inputs()
    for k in (1, 2, 4, 8, 12, 16):
        out = r(x, mask, steps=k)
        assert out["states"].shape == (3, k + 1, D)
        assert out["sequence_states"].shape == (3, L, D)
        assert r.count_params() == params
    assert r.max_steps is None and r.reasoning_steps == 4


def test_every_position_is_refined_at_each_step_and_causality_holds():
    r = _reasoner(state_init="zero")
    x, mask = _inputs()
    seq = [np_(r(x, mask, steps=k)["sequence_states"]) for k in (1, 2, 3)]
    for before, after in zip(seq, seq[1:]):
        changed = np.abs(after - before).max(axis=-1)  # [B, L]
        assert (changed[mask] > 1e-4).all()  # every real position moved
    # Position j does not see later positions: alter the last item.
    x2 = x.copy()
    x2[:, -1] = np.random.default_rng(9).normal(size=(3, D))  # (a shift LN would undo)
    a = np_(r(x, mask, steps=3)["sequence_states"])
    b = np_(r(x2, mask, steps=3)["sequence_states"])
    np.testing.assert_allclose(a[:, :-1][mask[:, :-1]], b[:, :-1][mask[:, :-1]], atol=1e-5)
    assert np.abs(a[:, -1] - b[:, -1]).max() > 1e-3


def test_zero_init_add_adapter_one_step_is_a_plain_stack_with_one_extra_layer_norm():
    r = _reasoner(state_init="zero", adapter="add")
    x, mask = _inputs()
    from rearec_keras.layers.masks import item_attention_mask

    att = item_attention_mask(mask, "causal")
    h, _ = r.pre_block(r.input_norm(x), attention_mask=att)
    # (0 + H) / 2 normalised = LN_2(H) up to the epsilon (1e-12)
    expected, _ = r.core_block(r.step_norm(h), attention_mask=att)
    out = np_(r(x, mask, steps=1)["sequence_states"])
    np.testing.assert_allclose(out[mask], np_(expected)[mask], atol=1e-4)
    # The read-outs: step 0 is the pre-block's last position, step 1 T_1's.
    states = np_(r(x, mask, steps=1)["states"])
    np.testing.assert_allclose(states[:, 0], np_(h)[:, -1], atol=1e-5)
    np.testing.assert_allclose(states[:, 1], out[:, -1], atol=1e-5)


def test_poisson_lognormal_sampler_statistics():
    draws = np_(sample_depths("poisson_lognormal", 4, 100_000, seed=0))
    assert draws.min() == 1 and draws.max() == 12
    assert 4.8 <= draws.mean() <= 5.0
    uniform = np_(sample_depths("uniform", 4, 20_000, seed=1))
    assert uniform.min() == 1 and uniform.max() == 8 == depth_cap("uniform", 4)
    bounded = np_(sample_depths("poisson_bounded", 4, 20_000, seed=1))
    assert bounded.min() == 1 and bounded.max() == 8 and 3.8 < bounded.mean() < 4.2
    assert set(np_(sample_depths("constant", 3, 50))) == {3}
    assert set(np_(sample_depths("non_recurrent", 3, 50))) == {1}


def test_initial_state_bounds_and_eval_stochasticity_by_mode():
    z = np_(truncated_normal_3sigma((100_000,), 1.0, seed=0))
    assert -3.0 <= z.min() < -2.9 and 2.9 < z.max() <= 3.0
    x, mask = _inputs()
    r = _reasoner(state_init="normal")
    t0 = np_(r.initial_state(keras.ops.zeros((64, L, D)), training=False))
    assert np.abs(t0).max() <= 9.0 + 1e-5 and np.abs(t0).max() > 8.0  # ω·3σ = 9
    a, b = (np_(r(x, mask, steps=2)["states"]) for _ in range(2))
    assert np.abs(a - b).max() > 1e-4  # released behaviour: stochastic inference
    for mode in ("normal_zero", "zero"):
        r = _reasoner(state_init=mode)
        a, b = (np_(r(x, mask, steps=2)["states"]) for _ in range(2))
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("adapter", ["concat", "linear"])
def test_other_adapters_and_pre_ln_blocks_run_and_round_trip(adapter):
    r = _reasoner(state_init="zero", adapter=adapter, norm_first=True)
    x, mask = _inputs()
    out = np_(r(x, mask, steps=3)["states"])
    clone = DepthRecurrentReasoning.from_config(r.get_config())
    clone(x, mask)
    clone.set_weights(r.get_weights())
    np.testing.assert_allclose(np_(clone(x, mask, steps=3)["states"]), out, atol=1e-6)


def test_a_depth_known_only_in_the_graph_equals_the_same_python_depth():
    backend = keras.backend.backend()
    if backend == "torch":
        pytest.skip("PyTorch runs eagerly: the depth is always a Python int")
    r = _reasoner(state_init="zero")
    x, mask = _inputs()
    if backend == "tensorflow":
        import tensorflow as tf

        run = tf.function(lambda x, m, k: r(x, m, training=True, depth=k))
    else:
        import jax

        run = jax.jit(lambda x, m, k: r(x, m, training=True, depth=k))
    for k in (1, 3):
        out = run(x, mask, keras.ops.convert_to_tensor(k, "int32"))
        mask_k = np_(out["step_mask"])
        assert mask_k.shape == (3, 13) and (mask_k.sum(axis=1) == k + 1).all()
        exact = np_(r(x, mask, steps=k, training=True)["states"])
        states = np_(out["states"])
        np.testing.assert_allclose(states[:, : k + 1], exact, atol=1e-5)
        np.testing.assert_allclose(np_(out["sequence_states"]),
                                   np_(r(x, mask, steps=k)["sequence_states"]), atol=1e-5)


def test_bad_settings_are_refused():
    for kwargs, name in ((dict(mean_depth=0), "mean_depth"), (dict(adapter="mlp"), "adapter"),
                         (dict(depth_sampler="geometric"), "depth_sampler"),
                         (dict(state_init="ones"), "state_init"),
                         (dict(num_core_layers=0), "num_core_layers")):
        with pytest.raises(ValueError, match=name):
            DepthRecurrentReasoning(D, **kwargs)
