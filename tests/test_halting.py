"""Halting signals and rules (`rearec_keras.halting`) against hand
computations; the fixed-depth and step-1 limits; monotone thresholds
(core: every backend)."""

import math

import keras
import numpy as np
import pytest

from rearec_keras import halting

np_ = keras.ops.convert_to_numpy


def _hand_case():
    # One user, 3 states (r_0, r_1, r_2), 4 items (+ PAD column 0).
    logits = np.array([[[50.0, 2.0, 1.0, 0.0, 0.0],
                        [-9.0, 0.0, 3.0, 1.0, 0.0],
                        [99.0, 0.0, 3.0, 1.0, 0.0]]], dtype="float32")
    states = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]]], dtype="float32")
    return logits, states


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def test_signals_equal_hand_computations():
    logits, states = _hand_case()
    out = {k: np_(v) for k, v in halting.halting_signals(logits, states, top_k=2).items()}
    p = [_softmax(logits[0, s, 1:].astype("float64")) for s in range(3)]
    assert out["confidence"].shape == (1, 2)
    np.testing.assert_allclose(out["confidence"][0], [p[1].max(), p[2].max()], rtol=1e-5)
    # top-2 (PAD ignored): r_0 {1, 2}, r_1 {2, 3}, r_2 {2, 3}
    np.testing.assert_allclose(out["consistency"][0], [0.5, 1.0])
    # cos(r_1, r_0) = 0 -> 0.5; cos(r_2, r_1) = 1 -> 1.0
    np.testing.assert_allclose(out["convergence"][0], [0.5, 1.0], atol=1e-6)
    kl1 = float(np.sum(p[1] * np.log(p[1] / p[0])))
    np.testing.assert_allclose(out["kl"][0], [kl1, 0.0], rtol=1e-4, atol=1e-6)
    entropy = halting.halting_signals(logits, states, top_k=2, confidence="entropy")
    h = -np.sum(p[1] * np.log(p[1]))
    np.testing.assert_allclose(np_(entropy["confidence"])[0, 0], 1 - h / math.log(4), rtol=1e-5)


def _random_case(seed=0, b=64, s=6, n=30, d=8):
    rng = np.random.default_rng(seed)
    states = np.cumsum(rng.normal(size=(b, s, d)), axis=1).astype("float32")
    logits = rng.normal(scale=3.0, size=(b, s, n + 1)).astype("float32")
    return logits, states


@pytest.mark.parametrize("mode, never, always", [
    ("all", {"confidence": 1.01, "consistency": 1.01, "convergence": 1.01},
     {"confidence": 0.0, "consistency": 0.0, "convergence": 0.0}),
    ("weighted", {"threshold": 1.01}, {"threshold": 0.0}),
    ("kl", {"threshold": -1.0}, {"threshold": math.inf}),
])
def test_unreachable_thresholds_give_fixed_depth_and_zero_ones_step_one(mode, never, always):
    logits, states = _random_case()
    signals = halting.halting_signals(logits, states)
    last = states.shape[1] - 1
    fixed = np_(halting.halting_steps(signals, mode, never))
    assert (fixed == last).all()
    np.testing.assert_array_equal(np_(halting.halted_states(states, fixed)), states[:, -1])
    assert halting.compute_saving(fixed, last) == 0.0
    first = np_(halting.halting_steps(signals, mode, always))
    assert (first == 1).all()
    np.testing.assert_array_equal(np_(halting.halted_states(states, first)), states[:, 1])
    assert halting.compute_saving(first, last) == pytest.approx(1 - 1 / last)


@pytest.mark.parametrize("mode, name, grid", [
    ("all", "consistency", np.linspace(0, 1, 11)),
    ("all", "convergence", np.linspace(0.5, 1, 11)),
    ("weighted", "threshold", np.linspace(0, 1, 11)),
])
def test_mean_halting_step_is_monotone_in_each_threshold(mode, name, grid):
    logits, states = _random_case(seed=1)
    signals = halting.halting_signals(logits, states)
    base = {"confidence": 0.0, "consistency": 0.0, "convergence": 0.0} if mode == "all" else {}
    means = [float(np.mean(np_(halting.halting_steps(signals, mode, {**base, name: v}))))
             for v in grid]
    assert all(a <= b for a, b in zip(means, means[1:])), means
    assert means[0] < means[-1]  # the sweep really moves the mean


def test_kl_halting_step_decreases_as_the_threshold_grows():
    logits, states = _random_case(seed=2)
    signals = halting.halting_signals(logits, states)
    means = [float(np.mean(np_(halting.halting_steps(signals, "kl", {"threshold": v}))))
             for v in (0.0, 0.5, 1.0, 2.0, 5.0, 100.0)]
    assert all(a >= b for a, b in zip(means, means[1:])), means


def test_the_first_met_step_is_chosen():
    met = {"kl": np.array([[1.0, 0.1, 0.1], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], "float32")}
    steps = np_(halting.halting_steps(met, "kl", {"threshold": 0.5}))
    np.testing.assert_array_equal(steps, [2, 3, 1])


def test_bad_settings_are_named():
    logits, states = _random_case()
    with pytest.raises(ValueError, match="halting mode must be one of"):
        halting.check_rule("sometimes")
    with pytest.raises(ValueError, match="unknown \\['theta'\\]"):
        halting.check_rule("kl", {"theta": 0.1})
    with pytest.raises(ValueError, match="3 weights >= 0"):
        halting.check_rule("weighted", {"weights": (1.0, -1.0, 1.0)})
    with pytest.raises(ValueError, match="'threshold' must be a number"):
        halting.check_rule("kl", {"threshold": "low"})
    with pytest.raises(ValueError, match="top_k must be in \\[1, 30\\]"):
        halting.halting_signals(logits, states, top_k=31)
    with pytest.raises(ValueError, match="confidence must be one of"):
        halting.halting_signals(logits, states, confidence="mean")
    with pytest.raises(ValueError, match="at least one reasoning step"):
        halting.halting_signals(logits[:, :1], states[:, :1])
    with pytest.raises(ValueError, match="must lie in \\[1, 3\\]"):
        halting.compute_saving([1, 4], 3)
