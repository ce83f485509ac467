"""Sampled-softmax training of ReaRec models (huge catalogs)."""

import keras
import numpy as np
import pytest
from keras import ops

from rearec_keras import ReaSASRec
from rearec_keras.experiments import RunConfig
from rearec_keras.experiments import runner

N, L = 12, 6


def make(**kwargs):
    settings = dict(max_length=L, hidden_dim=8, num_layers=1, num_heads=1, intermediate_dim=8,
                    dropout=0.0, attention_dropout=0.0, input_dropout=0.0, noise_std=0.0)
    settings.update(kwargs)
    model = ReaSASRec(N, **settings)
    model.build((None, L))
    return model


def copy_layers(source, target):
    for name in ("item_embedding", "position_embedding", "reasoning"):
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())


def batch(seed=0):
    rng = np.random.default_rng(seed)
    histories = rng.integers(1, N + 1, size=(N, L)).astype("int32")
    histories[:, :2] = 0
    targets = rng.permutation(np.arange(1, N + 1)).astype("int32")  # every item once
    return histories, targets


def loss_of(model, histories, targets):
    outputs = model(histories, training=True)
    return float(ops.convert_to_numpy(model.compute_loss(histories, targets, outputs)))


@pytest.mark.parametrize(
    "learning, steps, variant",
    [("prl", 0, "code"), ("erl", 2, "code"), ("erl", 2, "paper"), ("prl", 2, "code"),
     ("prl", 3, "paper"), ("rpe", 2, "code")],
)
@pytest.mark.heavy
def test_in_batch_softmax_over_the_whole_catalog_equals_the_full_softmax(learning, steps, variant):
    # A batch whose targets are every item exactly once: the in-batch
    # candidates are the catalog, and with equal counts log Q = log(B/N) = 0.
    histories, targets = batch()
    common = dict(learning=learning, reasoning_steps=steps, loss_variant=variant, kl_weight=0.1)
    full = make(**common)
    sampled = make(negatives="in_batch", item_frequencies=np.ones(N + 1), **common)
    copy_layers(full, sampled)
    assert loss_of(sampled, histories, targets) == pytest.approx(
        loss_of(full, histories, targets), rel=1e-5
    )


def test_logq_correction_changes_the_in_batch_loss_as_computed_by_hand():
    histories, targets = batch()
    counts = np.arange(N + 1, dtype="float64")  # item i seen i times
    plain = make(learning="prl", reasoning_steps=0, negatives="in_batch", logq_correction=False)
    corrected = make(learning="prl", reasoning_steps=0, negatives="in_batch",
                     item_frequencies=counts)
    copy_layers(plain, corrected)
    # By hand: softmax over the batch of s/τ - log(B·p) at the diagonal.
    states = ops.convert_to_numpy(plain(histories, training=True)["states"])[:, -1]
    E = ops.convert_to_numpy(plain.item_vectors())
    logits = states @ E[targets].T / plain.base_temperature
    logits = logits - np.log(N * counts[targets] / counts.sum())[None, :]
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                                                         keepdims=True)) - logits.max(1, keepdims=True)
    expected = -np.mean(np.diag(logp))
    assert loss_of(corrected, histories, targets) == pytest.approx(expected, rel=1e-4)
    assert loss_of(plain, histories, targets) != pytest.approx(expected, rel=1e-3)


@pytest.mark.heavy
@pytest.mark.parametrize("negatives", ["in_batch", "uniform", "popularity"])
@pytest.mark.parametrize("learning", ["erl", "prl"])
def test_sampled_training_learns_saves_and_reloads(tmp_path, negatives, learning):
    rng = np.random.default_rng(1)
    histories = rng.integers(1, N + 1, size=(64, L)).astype("int32")
    targets = (histories[:, -1] % N + 1).astype("int32")  # learnable: next id
    counts = np.bincount(targets, minlength=N + 1)
    model = make(learning=learning, negatives=negatives, num_negatives=6, item_frequencies=counts,
                 noise_std=0.01, noise_warmup_epochs=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(histories, targets, batch_size=16, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.negatives, loaded.num_negatives) == (negatives, 6)
    np.testing.assert_allclose(loaded.predict(histories, verbose=0),
                               model.predict(histories, verbose=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded.negative_sampler.log_q),
                               ops.convert_to_numpy(model.negative_sampler.log_q))


@pytest.mark.heavy
def test_inference_still_ranks_the_full_catalog():
    # Sampling only changes training: with the same weights, the sampled
    # model scores every item exactly as the full-softmax model does.
    sampled = make(negatives="uniform", num_negatives=3)
    full = make()
    copy_layers(sampled, full)
    histories, targets = batch()
    scores = sampled.predict(histories, verbose=0)
    assert scores.shape == (N, N + 1)
    np.testing.assert_array_equal(scores, full.predict(histories, verbose=0))
    # ... and model.evaluate reports the full-catalog cross-entropy.
    sampled.compile(), full.compile()
    assert sampled.evaluate(histories, targets, verbose=0) == pytest.approx(
        full.evaluate(histories, targets, verbose=0), rel=1e-6)


def test_bad_sampling_settings_are_refused():
    with pytest.raises(ValueError, match="negatives"):
        make(negatives="random")
    with pytest.raises(ValueError, match="item_frequencies"):
        make(negatives="popularity")
    with pytest.raises(ValueError, match="num_negatives"):
        make(negatives="uniform", num_negatives=0)


def test_run_config_passes_the_training_counts(tiny_split):
    config = RunConfig(negatives="popularity", num_negatives=5, hidden_dim=8, num_heads=1,
                       max_length=10)
    with pytest.raises(ValueError, match="needs `item_frequencies`"):
        runner.build_model(config, tiny_split.num_items)
    counts = tiny_split.train_item_counts()
    model = runner.build_model(config, tiny_split.num_items, counts)
    log_q = ops.convert_to_numpy(model.negative_sampler.log_q)
    seen = counts > 0
    np.testing.assert_allclose(log_q[seen], np.log(counts[seen] / counts.sum()), rtol=1e-5)


@pytest.mark.parametrize("negatives", [None, "in_batch"])
def test_erl_code_loss_is_the_cross_entropy_of_the_mean_state_by_hand(negatives):
    # The released ERL loss scores the mean of the K+1 states. The model
    # takes the mean of the steps' scores instead (scores are linear in the
    # state); by hand here from the mean state itself, with the in-batch
    # logQ correction for unequal counts.
    histories, targets = batch()
    counts = np.arange(1, N + 2, dtype="float64")
    extra = {} if negatives is None else dict(negatives=negatives, item_frequencies=counts)
    model = make(learning="erl", reasoning_steps=2, loss_variant="code", kl_weight=0.0, **extra)
    states = ops.convert_to_numpy(model(histories, training=True)["states"])
    mean_state = states.mean(axis=1)
    E = ops.convert_to_numpy(model.item_vectors())
    tau = model.base_temperature
    if negatives is None:
        logits = mean_state @ E.T / tau
        logits[:, 0] = -np.inf
        columns = targets
    else:
        logits = mean_state @ E[targets].T / tau
        logits = logits - np.log(N * counts[targets] / counts.sum())[None, :]
        columns = np.arange(N)
    top = logits.max(1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    expected = -np.mean(logp[np.arange(N), columns])
    assert loss_of(model, histories, targets) == pytest.approx(expected, rel=1e-5)
