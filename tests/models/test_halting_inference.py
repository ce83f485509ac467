"""Inference with per-user halting on ReaRec models: stopped users leave the
batch (their steps are never computed), batched results equal per-user
ones, unreachable thresholds give fixed depth exactly (core: every backend)."""

import keras
import numpy as np
import pytest

from rearec_keras import ReaSASRec

N, L, K = 25, 8, 4
NEVER = {"all": {"confidence": 2.0, "consistency": 2.0, "convergence": 2.0},
         "kl": {"threshold": -1.0}}


def _model(learning):
    keras.utils.set_random_seed(0)
    model = ReaSASRec(N, learning=learning, reasoning_steps=K, max_length=L, hidden_dim=16,
                      num_layers=2, num_heads=2, intermediate_dim=16, dropout=0.0,
                      attention_dropout=0.0, input_dropout=0.0)
    model.build((None, L))
    return model


def _histories(n=24, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N + 1, size=(n, L)).astype("int32")
    for row, length in enumerate(rng.integers(1, L + 1, size=n)):
        h[row, :L - length] = 0
    return h


@pytest.mark.parametrize("learning, mode", [("erl", "kl"), ("prl", "all")])
def test_unreachable_thresholds_give_the_fixed_depth_scores(learning, mode):
    model = _model(learning)
    h = _histories()
    scores, halts = model.score_with_halting(h, mode, NEVER[mode])
    assert (halts == K).all()
    np.testing.assert_allclose(scores, model.score(h), rtol=1e-5, atol=1e-5)
    states, _ = model.halting_states(h, mode, NEVER[mode])
    np.testing.assert_allclose(states, model.reasoning_states(h), rtol=1e-5, atol=1e-5)


def _mixed_threshold(model, h):
    """A KL threshold that halts users at different steps."""
    from rearec_keras import halting

    logits = model.step_scores(h)  # already over τ
    signals = halting.halting_signals(logits, model.reasoning_states(h))
    return float(np.median(keras.ops.convert_to_numpy(signals["kl"])))


@pytest.mark.parametrize("learning", ["erl", "prl"])
def test_batched_halting_equals_per_user_halting(learning):
    model = _model(learning)
    h = _histories()
    rule = {"threshold": _mixed_threshold(model, h)}
    scores, halts = model.score_with_halting(h, "kl", rule, batch_size=7)
    assert len(set(halts.tolist())) > 1  # users really stop at different steps
    for row in range(len(h)):
        alone, step = model.score_with_halting(h[row:row + 1], "kl", rule)
        assert step[0] == halts[row]
        np.testing.assert_allclose(alone[0], scores[row], rtol=1e-5, atol=1e-5)
    # A user's state at its halting step is the fixed-depth state at that step.
    states, _ = model.halting_states(h, "kl", rule)
    fixed = model.reasoning_states(h)
    for row, step in enumerate(halts):
        np.testing.assert_allclose(states[row, :step + 1], fixed[row, :step + 1],
                                   rtol=1e-5, atol=1e-5)
        assert not states[row, step + 1:].any()


def test_stopped_rows_leave_the_batch_and_zero_thresholds_stop_at_step_one():
    model = _model("prl")
    h = _histories(n=6)
    x, mask = model._item_inputs(h)
    seen = []

    def halt(step, previous, state, memo):
        seen.append(int(state.shape[0]))
        stop = np.zeros(int(state.shape[0]), bool)
        stop[:2] = True  # the first two running rows stop at every step
        return stop, None

    states, halts = model.reasoning.halting_call(x, mask, halt)
    assert seen == [6, 4, 2]  # steps 1..3 decide; step 4 is the last
    np.testing.assert_array_equal(halts, [1, 1, 2, 2, 3, 3])
    scores, halts = model.score_with_halting(
        h, "all", {"confidence": 0.0, "consistency": 0.0, "convergence": 0.0})
    assert (halts == 1).all()
    np.testing.assert_allclose(scores, model.score(h, steps=1), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a TF graph (the export)")
def test_stopped_rows_leave_the_batch_inside_a_traced_graph():
    """The SavedModel export traces `halting_call`: the batch it runs must
    shrink there too (its batch dimension is dynamic), not merely be masked."""
    import tensorflow as tf

    model = _model("prl")
    h = _histories(n=6)
    rows_seen = tf.Variable(0, dtype=tf.int32)

    def halt(step, previous, state, memo):
        rows_seen.assign_add(tf.shape(state)[0])
        return tf.range(tf.shape(state)[0]) < 2, None  # the first two running rows stop

    @tf.function(input_signature=[tf.TensorSpec([None, L], tf.int32)])
    def run(histories):
        x, mask = model._item_inputs(histories)
        return model.reasoning.halting_call(x, mask, halt)

    states, halts = run(tf.constant(h))
    assert int(rows_seen.numpy()) == 6 + 4 + 2  # steps 1..3 see 6, 4, then 2 rows
    np.testing.assert_array_equal(halts.numpy(), [1, 1, 2, 2, 3, 3])
    eager, _ = model.reasoning.halting_call(*model._item_inputs(h), lambda *a: (
        np.arange(int(a[2].shape[0])) < 2, None))
    np.testing.assert_allclose(states.numpy(), np.asarray(eager), atol=1e-5)


def test_bad_halting_settings_are_named():
    model = _model("prl")
    with pytest.raises(ValueError, match="halting mode must be one of"):
        model.score_with_halting(_histories(n=2), "soon")
    with pytest.raises(ValueError, match="steps"):
        model.score_with_halting(_histories(n=2), "kl", steps=K + 1)


def test_recommend_with_halting():
    model = _model("prl")
    h = _histories(n=10)
    ids, scores = model.recommend(h, k=5, halting="kl", thresholds=NEVER["kl"])
    plain_ids, plain_scores = model.recommend(h, k=5)
    np.testing.assert_array_equal(ids, plain_ids)
    np.testing.assert_allclose(scores, plain_scores, rtol=1e-5, atol=1e-5)
    ids, _ = model.recommend(h, k=5, halting="kl", thresholds={"threshold": float("inf")})
    one_step, _ = model.recommend(h, k=5, steps=1)
    np.testing.assert_array_equal(ids, one_step)
