"""Model-level checks of the spec's "What a faithful implementation must show"."""

import numpy as np
import pytest

import keras
from keras import ops

from rearec_keras import data
from rearec_keras.models import BERT4Rec
from rearec_keras.models import ReaBERT4Rec
from rearec_keras.models import ReaSASRec
from rearec_keras.models import ReasoningNoiseSchedule
from rearec_keras.models import SASRec

N_ITEMS = 30
L = 8
SMALL = dict(max_length=L, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=24)


def histories(batch=5, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N_ITEMS + 1, size=(batch, L)).astype("int32")
    for row in range(batch):
        h[row, : rng.integers(0, L - 1)] = 0  # left padding, >= 1 real item
    return h


def make(cls=ReaSASRec, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = cls(N_ITEMS, **{**SMALL, **kwargs})
    model.build((None, L))
    return model


def copy_shared_weights(src, dst):
    """Copy weights in creation order; extra trailing weights of `dst` stay."""
    for a, b in zip(src.weights, dst.weights):
        assert tuple(a.shape) == tuple(b.shape), (a.path, b.path)
        b.assign(ops.convert_to_numpy(a))  # a copy: JAX may donate buffers


# --- 1. K = 0 is exactly the base model ------------------------------------


@pytest.mark.parametrize("learning", ["erl", "prl", "rpe", "naive"])
@pytest.mark.parametrize("base, rea", [(SASRec, ReaSASRec), (BERT4Rec, ReaBERT4Rec)])
def test_k0_is_the_base_model(base, rea, learning):
    no_dropout = dict(dropout=0.0, attention_dropout=0.0, input_dropout=0.0)
    reference = make(base, **no_dropout)
    model = make(rea, seed=1, reasoning_steps=0, learning=learning, **no_dropout)
    copy_shared_weights(reference, model)
    assert not any("reasoning_position" in v.path for v in model.weights)
    assert len(model.weights) == len(reference.weights)
    h = histories()
    np.testing.assert_allclose(model.predict(h, verbose=0), reference.predict(h, verbose=0), rtol=1e-6)
    assert model.reasoning_states(h).shape == (5, 1, 16)
    # The training loss is CE(r_0 Eᵀ / τ) for every method: finite and equal.
    y = np.arange(1, 6, dtype="int32")
    out = model(h, training=True)
    assert set(out) == {"states"}
    loss = float(model.compute_loss(h, y, out))
    ref_loss = float(reference.compute_loss(h, y, reference(h, training=True)))
    assert np.isfinite(loss) and loss == pytest.approx(ref_loss, rel=1e-6)


def test_base_models_reject_reasoning_steps():
    with pytest.raises(ValueError, match="SASRec is the base model without reasoning"):
        SASRec(N_ITEMS, reasoning_steps=2)


# --- 2. Reasoning never changes item outputs --------------------------------


@pytest.mark.parametrize("cls", [ReaSASRec, ReaBERT4Rec])
def test_r0_is_the_same_for_any_number_of_steps(cls):
    model = make(cls, reasoning_steps=4)
    h = histories()
    full = model.reasoning_states(h)
    assert full.shape == (5, 5, 16)
    for steps in range(0, 5):
        fewer = model.reasoning_states(h, steps=steps)
        np.testing.assert_allclose(fewer, full[:, : steps + 1], atol=1e-5)


# --- 4. Padding never leaks ---------------------------------------------------


@pytest.mark.parametrize("cls", [ReaSASRec, ReaBERT4Rec])
def test_padding_rows_do_not_leak(cls):
    model = make(cls, reasoning_steps=2)
    h = histories()
    before = model.reasoning_states(h)
    table = model.item_embedding.embeddings
    values = ops.convert_to_numpy(table).copy()
    values[0] = 7.0  # the padding item row
    table.assign(values)
    pos = model.position_embedding.weights[0]
    values = ops.convert_to_numpy(pos).copy()
    values[L] = 5.0  # the padding position row
    pos.assign(values)
    np.testing.assert_allclose(model.reasoning_states(h), before, atol=1e-5)


# --- 5/6. PRL temperatures and noise schedule -------------------------------


def test_prl_uses_the_progressive_temperatures():
    model = make(reasoning_steps=2, learning="prl")
    np.testing.assert_allclose(model.method.prl_ce.temperatures, [1.75, 0.35, 0.07], rtol=1e-6)
    model = make(reasoning_steps=3, learning="prl", base_temperature=1.0, temperature_decay=2.0)
    np.testing.assert_allclose(model.method.prl_ce.temperatures, [8, 4, 2, 1])


def test_noise_is_off_in_eval_and_during_warmup():
    model = make(reasoning_steps=2, learning="prl", noise_warmup_epochs=2, dropout=0.0,
                 attention_dropout=0.0, input_dropout=0.0)
    h = histories()
    assert set(model(h, training=True)) == {"states"}  # warm-up: no twin, no duplication
    model.noise_active = True
    out = model(h, training=True)
    assert set(out) == {"states", "noisy_states"}
    assert out["noisy_states"].shape == (5, 3, 16)
    # Eval mode never perturbs: two calls agree and equal the clean path.
    np.testing.assert_allclose(ops.convert_to_numpy(model(h)), ops.convert_to_numpy(model(h)))

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.noise_active)

    model.noise_active = False
    model.compile(optimizer="adam")
    y = np.arange(1, 6, dtype="int32")
    model.fit(h, y, epochs=4, verbose=0, shuffle=False,
              callbacks=[ReasoningNoiseSchedule(), Record()])
    assert seen == [False, False, True, True]  # 1-based epochs 3 and 4


# --- 9. Inference pooling ------------------------------------------------------


def test_erl_scores_with_the_mean_and_prl_with_the_last_state():
    h = histories()
    for learning, pool in (("erl", lambda s: s.mean(axis=1)), ("prl", lambda s: s[:, -1])):
        model = make(reasoning_steps=2, learning=learning)
        states = model.reasoning_states(h)
        expected = ops.convert_to_numpy(model._logits(pool(states))) / model.base_temperature
        expected[:, 0] = -1e9  # the padding column is masked after the temperature
        np.testing.assert_allclose(model.predict(h, verbose=0), expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(model.score(h), expected, rtol=1e-4, atol=1e-4)


def test_padding_never_wins_and_recommend():
    model = make(reasoning_steps=2)
    h = histories()
    scores = model.predict(h, verbose=0)
    assert scores.shape == (5, N_ITEMS + 1)
    assert (scores[:, 0] < scores[:, 1:].min(axis=1)).all()
    ids, values = model.recommend(h, k=N_ITEMS)
    assert (ids != 0).all() and ids.shape == (5, N_ITEMS)
    assert (np.diff(values, axis=1) <= 0).all()
    np.testing.assert_array_equal(ids[:, 0], scores[:, 1:].argmax(axis=1) + 1)
    ids, _ = model.recommend(h, k=3, exclude_history=True)
    for row in range(5):
        assert not set(ids[row]) & set(h[row][h[row] > 0])
    # k beyond the unseen items: every item exactly once, unseen ones first,
    # never the padding id.
    ids, values = model.recommend(h, k=N_ITEMS, exclude_history=True)
    for row in range(5):
        seen = set(h[row][h[row] > 0])
        assert sorted(ids[row]) == list(range(1, N_ITEMS + 1))
        unseen = N_ITEMS - len(seen)
        assert not set(ids[row][:unseen]) & seen and set(ids[row][unseen:]) == seen
        assert np.isneginf(values[row][unseen:]).all()


def test_step_scores_and_fewer_steps():
    model = make(reasoning_steps=3, learning="prl")
    h = histories()
    per_step = model.step_scores(h)
    assert per_step.shape == (5, 4, N_ITEMS + 1)
    np.testing.assert_allclose(per_step[:, 1], model.score(h, steps=1), rtol=1e-4, atol=1e-4)


# --- Loss composition ------------------------------------------------------------


def test_erl_loss_is_ce_minus_weighted_diversity():
    model = make(reasoning_steps=2, learning="erl", kl_weight=0.5, dropout=0.0,
                 attention_dropout=0.0, input_dropout=0.0)
    h = histories()
    y = np.arange(1, 6, dtype="int32")
    out = model(h, training=True)
    total = float(model.compute_loss(h, y, out))
    no_kl = make(reasoning_steps=2, learning="erl", kl_weight=0.0, dropout=0.0,
                 attention_dropout=0.0, input_dropout=0.0)
    copy_shared_weights(model, no_kl)
    ce = float(no_kl.compute_loss(h, y, no_kl(h, training=True)))
    step_logits = model._logits(out["states"]) / model.base_temperature
    div = float(model.method.diversity_loss(y, step_logits))
    assert div <= 0  # the loss object returns the negated diversity
    assert total == pytest.approx(ce + 0.5 * div, rel=1e-5)


# --- Save / load -------------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs", [
    (ReaSASRec, dict(reasoning_steps=2, learning="prl")),
    (ReaBERT4Rec, dict(reasoning_steps=1, learning="erl")),
    (SASRec, {}),
])
def test_keras_round_trip(tmp_path, cls, kwargs):
    model = make(cls, **kwargs)
    h = histories()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is cls
    np.testing.assert_allclose(loaded.predict(h, verbose=0), model.predict(h, verbose=0), rtol=1e-6)
    assert loaded.get_config() == model.get_config()


# --- Bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(reasoning_steps=-1), "`reasoning_steps` must be an int >= 0. Received: reasoning_steps=-1"),
    (dict(base_temperature=0.0), "`base_temperature` must be > 0.0. Received: base_temperature=0.0"),
    (dict(temperature_decay=0.5), "`temperature_decay` must be >= 1.0. Received: temperature_decay=0.5"),
    (dict(learning="cot"), "`learning` must be one of"),
    (dict(loss_variant="x"), "`loss_variant` must be one of"),
    (dict(hidden_dim=15), "divisible by `num_heads`"),
    (dict(dropout=1.0), "`dropout` must be < 1.0. Received: dropout=1.0"),
    (dict(noise_std=-0.1), "`noise_std` must be >= 0.0. Received: noise_std=-0.1"),
])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReaSASRec(N_ITEMS, **{**SMALL, **kwargs})


def test_bad_histories():
    model = make(reasoning_steps=1)
    with pytest.raises(ValueError, match=r"item id 31 \(row 0, column 7\).*ids 1..30; 0 is padding"):
        model.predict(np.array([[0] * 7 + [31]]), verbose=0)
    with pytest.raises(ValueError, match="must be 2-D"):
        model.predict(np.array([1, 2, 3]), verbose=0)
    with pytest.raises(ValueError, match="integer item ids"):
        model.recommend(np.array([[0.5] * L]))
    with pytest.raises(ValueError, match="row 1 is empty"):
        model.recommend(np.array([[0] * 7 + [3], [0] * L]))
    with pytest.raises(ValueError, match="max_length=8"):
        model.reasoning_states(np.ones((1, L + 1), dtype="int32"))
    with pytest.raises(ValueError, match="steps=2 exceeds the reasoning_steps=1"):
        model.score(histories(), steps=2)
    with pytest.raises(ValueError, match="`steps` must be an int >= 0. Received: steps=-1"):
        model.score(histories(), steps=-1)


# --- Learning a planted pattern -------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize("learning", ["erl", "prl"])
def test_learns_a_planted_sequential_pattern(learning):
    """Item i is always followed by item i+1 (cyclically): recall@5 far above chance."""
    rng = np.random.default_rng(0)
    n_users, length = 300, 12
    starts = rng.integers(1, N_ITEMS + 1, size=n_users)
    seqs = (starts[:, None] - 1 + np.arange(length)[None, :]) % N_ITEMS + 1
    import pandas as pd

    frame = pd.DataFrame({
        "user_id": np.repeat(np.arange(n_users), length),
        "item_id": seqs.ravel(),
        "timestamp": np.tile(np.arange(length), n_users),
    })
    from rearec_keras.datasets import InteractionDataset
    import rearec_keras

    split = data.leave_one_out(InteractionDataset(frame, name="planted"), max_length=L)
    model = make(reasoning_steps=2, learning=learning, noise_warmup_epochs=1, dropout=0.1,
                 attention_dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(split.train.as_dataset(128, shuffle=True, seed=0), epochs=6, verbose=0, shuffle=False)
    metrics = rearec_keras.evaluate(model, split.test, ks=(5,))
    chance = 5 / N_ITEMS
    assert metrics["recall@5"] > 0.9 > 3 * chance
