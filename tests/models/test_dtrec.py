"""DTRec's Hierarchical Process Supervision: prototype levels, K-means,
labels, the loss against hand-built terms, phases, saving, settings
(core: every backend)."""

import keras
import numpy as np
import pytest

from rearec_keras import DTRec
from rearec_keras import ReaSASRec
from rearec_keras.prototypes import kmeans
from rearec_keras.prototypes import prototype_sizes

np_ = keras.ops.convert_to_numpy
N, L = 40, 6
TINY = dict(max_length=L, hidden_dim=16, num_layers=1, num_heads=1, intermediate_dim=16,
            dropout=0.0, attention_dropout=0.0, input_dropout=0.0)


def test_prototype_levels_grow_strictly_to_the_catalog():
    assert prototype_sizes(20000, 3) == (16, 172, 1857, 20000)  # the spec's example
    assert prototype_sizes(1682, 2, "linear") == (16, 849, 1682)
    assert prototype_sizes(100, 2, sizes=(4, 30)) == (4, 30, 100)
    assert prototype_sizes(50, 0) == (50,)
    for steps in (1, 2, 3, 5):
        sizes = prototype_sizes(1000, steps, min_size=8)
        assert sizes[-1] == 1000 and all(b > a for a, b in zip(sizes, sizes[1:]))
    with pytest.raises(ValueError, match="strictly increasing"):
        prototype_sizes(100, 2, sizes=(30, 30))
    with pytest.raises(ValueError, match="strictly increasing"):
        prototype_sizes(20, 6, min_size=16)
    with pytest.raises(ValueError, match="need 2"):
        prototype_sizes(100, 2, sizes=(4,))
    with pytest.raises(ValueError, match="min_prototypes=100 must be in"):
        prototype_sizes(100, 2, min_size=100)


def test_kmeans_centroids_are_the_means_of_their_points_and_warm_starts_stay_put():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(6, 4))
    points = (centres[rng.integers(6, size=300)] + rng.normal(size=(300, 4))).astype("float32")
    centroids, assignment, _ = kmeans(points, 6, seed=1)
    assert assignment.shape == (300,) and set(assignment) == set(range(6))
    for c in range(6):
        np.testing.assert_allclose(centroids[c], points[assignment == c].mean(0), atol=1e-4)
    # A warm start from a fixed point is already converged.
    again, same, run = kmeans(points, 6, init=centroids)
    np.testing.assert_array_equal(same, assignment)
    np.testing.assert_allclose(again, centroids, atol=1e-5)
    assert run == 2  # one pass assigns, the next sees no change
    # More clusters than distinct groups: none is left empty.
    _, many, _ = kmeans(points[:20], 20, seed=0)
    assert sorted(many) == list(range(20))


def test_blockwise_assignment_is_the_nearest_centroid(monkeypatch):
    from rearec_keras import prototypes

    rng = np.random.default_rng(3)
    points = rng.normal(size=(103, 5)).astype("float32")
    centroids = rng.normal(size=(7, 5)).astype("float32")
    monkeypatch.setattr(prototypes, "_CHUNK", 10)  # blocks of 10 rows, a ragged last one
    assignment, served = prototypes.assign(points, centroids)
    full = ((points[:, None, :] - centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(assignment, full.argmin(1))
    np.testing.assert_allclose(served, full.min(1), rtol=1e-5, atol=1e-5)


def test_kmeans_seeding_sample_and_tolerance():
    from rearec_keras.prototypes import kmeans_plus_plus

    rng = np.random.default_rng(4)
    points = rng.normal(size=(500, 3)).astype("float32")
    seeds = kmeans_plus_plus(points, 12, np.random.default_rng(0), sample=40)
    rows = [np.flatnonzero((points == s).all(1)) for s in seeds]
    assert all(len(r) == 1 for r in rows) and len({int(r[0]) for r in rows}) == 12
    _, exact, run_exact = kmeans(points, 12, seed=0, iterations=100)
    _, loose, run_loose = kmeans(points, 12, seed=0, iterations=100, tolerance=0.05)
    assert run_loose < run_exact
    # With a tolerance it stops at the first pass that changed few enough points.
    assert np.mean(loose != kmeans(points, 12, seed=0, iterations=run_loose - 1,
                                   tolerance=0.05)[1]) <= 0.05
    with pytest.raises(ValueError, match="tolerance"):
        kmeans(points, 3, tolerance=1.0)


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    model = DTRec(N, **{**TINY, "min_prototypes": 4, **kwargs})
    model.build((None, L))
    return model


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.integers(1, N + 1, size=(n, L)).astype("int32")
    return h, (h[:, -1] % N + 1).astype("int32")


def test_reclustering_fills_every_level_and_never_clusters_pad():
    model = _model()
    assert model.method.sizes == (4, 9, 19, 40)
    model.method.recluster(model)
    table = np_(model.item_vectors())
    for t, k in enumerate(model.method.sizes[:-1]):
        labels = np_(model.prototype_labels[t])
        centroids = np_(model.prototypes[t])
        assert labels.shape == (N + 1,) and 0 <= labels[1:].min() and labels[1:].max() < k
        assert set(labels[1:]) == set(range(k))  # no empty prototype
        for c in range(k):  # a fixed point over the real items (row 0 excluded)
            np.testing.assert_allclose(centroids[c], table[1:][labels[1:] == c].mean(0),
                                       atol=1e-4)
    assert float(np_(model.prototypes_ready)) == 1.0


def test_the_loss_is_item_ce_at_every_step_plus_the_prototype_terms():
    from rearec_keras.losses import MultiStepCrossEntropy

    model = _model(hps_warmup_epochs=0, hps_weight=0.5, halting_head=False)
    model.method.recluster(model)
    h, y = _data(16)
    outputs = model._states(h, training=False)
    states = np_(outputs["states"])
    loss = float(np_(model.method.reasoning_loss(model, h, y, outputs)))
    tau = model.base_temperature
    logits = np_(model._logits(states))
    item = float(np_(MultiStepCrossEntropy(temperatures=[tau] * 4, variant="paper")(y, logits)))

    def ce(scores, labels):
        scores = scores - scores.max(1, keepdims=True)
        log_p = scores - np.log(np.exp(scores).sum(1, keepdims=True))
        return -log_p[np.arange(len(labels)), labels].mean()

    hps = sum(ce(states[:, t] @ np_(model.prototypes[t]).T / tau,
                 np_(model.prototype_labels[t])[y]) for t in range(3))
    assert loss == pytest.approx(item + 0.5 * hps, rel=1e-4)


def test_without_hps_it_is_multi_step_item_ce_on_the_rearec_backbone():
    # hps_weight = 0 and item CE at all steps: the same loss as ERL's paper
    # variant without diversity, on the same weights.
    dtrec = _model(hps_weight=0.0, hps_warmup_epochs=0, halting_head=False)
    erl = ReaSASRec(N, learning="erl", loss_variant="paper", kl_weight=0.0, reasoning_steps=3,
                    **TINY)
    erl.build((None, L))
    erl.set_weights([w for w, v in zip(dtrec.get_weights(), dtrec.weights)
                     if "proto" not in v.path])  # the ReaRec weights, in the same order
    h, y = _data(16)
    np.testing.assert_allclose(erl.reasoning_states(h), dtrec.reasoning_states(h), atol=1e-6)
    a = dtrec.method.loss(dtrec, h, y, dtrec._states(h))
    b = erl.method.loss(erl, h, y, erl._states(h))
    assert float(np_(a)) == pytest.approx(float(np_(b)), rel=1e-6)


@pytest.mark.heavy
def test_dtrec_warms_up_reclusters_each_epoch_learns_and_round_trips(tmp_path):
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    h, y = _data()
    seen = []
    original = model.method.recluster
    model.method.recluster = lambda m, seed=0, **kw: seen.append(seed) or original(m, seed, **kw)
    history = model.fit(h, y, epochs=4, batch_size=16, verbose=0).history["loss"]
    assert seen == [1, 2, 3]  # epoch 0 is the item-CE warm-up
    assert model.phase.name == "hps" and history[-1] < history[1]
    path = tmp_path / "dtrec.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is DTRec and loaded.method.sizes == (4, 9, 19, 40)
    for a, b in zip(loaded.prototype_labels, model.prototype_labels):
        np.testing.assert_array_equal(np_(a), np_(b))
    np.testing.assert_allclose(loaded.score(h[:4]), model.score(h[:4]), rtol=1e-5, atol=1e-5)


def test_bad_dtrec_settings_are_named():
    with pytest.raises(ValueError, match="prototype_sizes must be comma-separated integers"):
        DTRec(N, **TINY, prototype_sizes="4,a")
    with pytest.raises(ValueError, match="strictly increasing"):
        _model(prototype_sizes="9,4,20")
    with pytest.raises(ValueError, match="prototype_schedule"):
        DTRec(N, **TINY, prototype_schedule="cubic")
    with pytest.raises(ValueError, match="hps_weight"):
        DTRec(N, **TINY, hps_weight=-1.0)
    with pytest.raises(ValueError, match="negatives='full'"):
        _model(negatives="uniform", num_negatives=5)


def test_exit_distribution_is_act_style_and_sums_to_one():
    from rearec_keras.halting import exit_distribution

    lam = np.array([[0.5, 0.5, 0.5], [1.0, 0.3, 0.9], [0.0, 0.0, 0.0]], "float32")
    p = np_(exit_distribution(lam))
    np.testing.assert_allclose(p, [[0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
                               atol=1e-7)


def test_the_halting_head_learns_jointly_and_halts_inference():
    model = _model(hps_warmup_epochs=0)
    model.method.recluster(model)
    h, y = _data(16)
    outputs = model._states(h, training=False)
    # The objective by hand: λ from the head, ACT exit probabilities, the
    # expected CE at the exit step plus β_h·E[t].
    from rearec_keras import halting

    states = np_(outputs["states"])
    logits = np_(model._logits(states))
    tau = model.base_temperature
    signals = halting.halting_signals(logits, states, top_k=10, temperature=tau)
    lam = np_(model.method.halting_probabilities(model, signals))
    assert lam.shape == (16, 3) and (lam >= 0).all() and (lam <= 1).all()
    p = np_(halting.exit_distribution(lam))
    shifted = logits / tau - (logits / tau).max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_p, y[:, None, None].repeat(4, 1), axis=-1)[..., 0][:, 1:]
    expected = np.mean(np.sum(p * (ce + 0.01 * np.arange(1, 4)), axis=1))
    value = float(np_(model.method.halting_loss(model, outputs["states"],
                                                keras.ops.convert_to_tensor(logits), y)))
    assert value == pytest.approx(expected, rel=1e-4)
    # Trained jointly: fitting moves the head's weights.
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    head = [w.copy() for w in model.halting_network.get_weights()]
    model.fit(h, y, epochs=2, batch_size=8, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(head, model.halting_network.get_weights()))
    # Learned halting at inference: threshold > 1 is fixed depth, 0 is step 1.
    scores, steps = model.score_with_halting(h, "learned", {"threshold": 1.5})
    assert (steps == 3).all()
    np.testing.assert_allclose(scores, model.score(h), rtol=1e-5, atol=1e-5)
    _, steps = model.score_with_halting(h, "learned", {"threshold": 0.0})
    assert (steps == 1).all()
    with pytest.raises(ValueError, match="needs a model with a halting head"):
        _model(halting_head=False).score_with_halting(h, "learned")
