"""Text backbones: UniSRec / MoRec adaptors, models, saving and cold start."""

import keras
import numpy as np
import pytest
from keras import ops

from rearec_keras import MoRec
from rearec_keras import ReaMoRec
from rearec_keras import ReaUniSRec
from rearec_keras import UniSRec
from rearec_keras.layers import FeatureProjection
from rearec_keras.layers import ItemFeatureTable
from rearec_keras.layers import MoEAdaptor
from rearec_keras.layers import ParametricWhitening
from rearec_keras.layers.text_adaptors import check_item_features

N, L, F, D = 12, 6, 10, 8


def features(seed=0, n=N):
    return np.random.default_rng(seed).normal(size=(n, F)).astype("float32")


def make(cls=ReaUniSRec, feats=None, **kwargs):
    settings = dict(max_length=L, hidden_dim=D, num_layers=1, num_heads=1, intermediate_dim=8,
                    dropout=0.0, attention_dropout=0.0, input_dropout=0.0, noise_std=0.0)
    settings.update(kwargs)
    model = cls(N if feats is None else len(feats),
                item_features=features() if feats is None else feats, **settings)
    model.build((None, L))
    return model


def histories(seed=0, n=5, items=N):
    h = np.random.default_rng(seed).integers(1, items + 1, size=(n, L)).astype("int32")
    h[0, :3] = 0
    return h


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


# ----------------------------------------------------------------------
# Adaptors against hand computations.


def test_parametric_whitening_is_w_times_x_minus_b():
    layer = ParametricWhitening(3)
    x = np.arange(8, dtype="float32").reshape(2, 4) / 7
    layer.build(x.shape)
    b = np.array([0.5, -1.0, 0.0, 2.0], "float32")
    W = np.arange(12, dtype="float32").reshape(4, 3) / 10
    layer.bias.assign(b)
    layer.kernel.assign(W)
    np.testing.assert_allclose(numpy(layer(x)), (x - b) @ W, rtol=1e-6)


def test_moe_adaptor_is_the_gated_sum_of_whitening_experts():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4)).astype("float32")
    layer = MoEAdaptor(3, num_experts=2, dropout=0.0)
    layer.build(x.shape)
    b = rng.normal(size=(2, 4)).astype("float32")
    W = rng.normal(size=(2, 4, 3)).astype("float32")
    G = rng.normal(size=(4, 2)).astype("float32")
    layer.bias.assign(b)
    layer.kernel.assign(W)
    layer.gate_kernel.assign(G)
    logits = x @ G
    g = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = g[:, :1] * ((x - b[0]) @ W[0]) + g[:, 1:] * ((x - b[1]) @ W[1])
    np.testing.assert_allclose(numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    # Zero-initialised gates mix the experts uniformly.
    fresh = MoEAdaptor(3, num_experts=4)
    fresh.build(x.shape)
    np.testing.assert_allclose(numpy(fresh.gates(x)), np.full((5, 4), 0.25), rtol=1e-6)


def test_moe_gate_noise_only_in_training():
    x = np.random.default_rng(2).normal(size=(6, 4)).astype("float32")
    noisy = MoEAdaptor(3, num_experts=3, dropout=0.0, gate_noise=True, seed=0)
    noisy.build(x.shape)
    np.testing.assert_allclose(numpy(noisy(x)), numpy(noisy(x)))
    assert not np.allclose(numpy(noisy(x, training=True)), numpy(noisy(x)))
    quiet = MoEAdaptor(3, num_experts=3, dropout=0.0, gate_noise=False)
    quiet.build(x.shape)
    np.testing.assert_allclose(numpy(quiet(x, training=True)), numpy(quiet(x)), rtol=1e-6)


def test_feature_projection_is_one_dense_layer_or_an_mlp():
    x = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    layer = FeatureProjection(2)
    layer.build(x.shape)
    W, c = layer.output_layer.get_weights()
    np.testing.assert_allclose(numpy(layer(x)), x @ W + c, rtol=1e-5, atol=1e-6)
    mlp = FeatureProjection(2, hidden_dim=7)
    mlp.build(x.shape)
    assert [w.shape for w in mlp.get_weights()] == [(5, 7), (7,), (7, 2), (2,)]


def test_item_features_are_checked_and_padded():
    f = features()
    padded = check_item_features(f, N)
    assert padded.shape == (N + 1, F) and not padded[0].any()
    np.testing.assert_array_equal(padded[1:], f)
    with_row0 = check_item_features(np.concatenate([np.ones((1, F)), f]), N)
    np.testing.assert_array_equal(with_row0, padded)  # row 0 is replaced by zeros
    with pytest.raises(ValueError, match="has 7 rows but the catalog has num_items=12"):
        check_item_features(f[:7], N)
    bad = f.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="item 5"):
        check_item_features(bad, N)
    with pytest.raises(ValueError, match="2-D"):
        check_item_features(f[0], N)


def test_item_feature_table_is_frozen_and_gathers_rows():
    table = ItemFeatureTable(N, F, features())
    table.build()
    assert table.trainable_weights == [] and len(table.non_trainable_weights) == 1
    np.testing.assert_array_equal(numpy(table(np.array([[0, 3]])))[0, 1], features()[2])
    with pytest.raises(ValueError, match="columns"):
        ItemFeatureTable(N, F + 1, features())


# ----------------------------------------------------------------------
# Models.


@pytest.mark.heavy
@pytest.mark.parametrize("cls", [ReaUniSRec, ReaMoRec])
@pytest.mark.parametrize("fusion", [False, True])
def test_inputs_and_candidates_share_one_adapted_table(cls, fusion):
    model = make(cls, id_fusion=fusion)
    h = histories()
    table = numpy(model._item_table())
    # The inference lookup adapts only the history rows: same vectors.
    np.testing.assert_allclose(
        numpy(model._lookup_items(ops.convert_to_tensor(h))), table[h], rtol=1e-5, atol=1e-6
    )
    # Scores are user vectors against the same table.
    user = numpy(model.user_vectors(h))
    scores = model.score(h)
    np.testing.assert_allclose(scores[:, 1:], user @ table[1:].T, rtol=1e-4, atol=1e-4)
    assert np.all(scores[:, 0] == -1e9)
    if not fusion:
        expected = numpy(model.adaptor(check_item_features(features(), N)))
        np.testing.assert_allclose(table, expected, rtol=1e-5, atol=1e-6)


def test_training_uses_one_table_for_inputs_and_loss():
    # Without dropout or gate noise the training pass equals inference, and
    # the table it returns is the one the loss scores against.
    model = make(ReaUniSRec, learning="erl", gate_noise=False, adaptor_dropout=0.0)
    h = histories()
    out = model(h, training=True)
    np.testing.assert_allclose(numpy(out["item_table"]), numpy(model._item_table()), rtol=1e-6)
    inference = model.reasoning_states(h)
    np.testing.assert_allclose(numpy(out["states"]), inference, rtol=1e-5, atol=1e-6)


def test_items_with_the_same_text_get_the_same_score():
    f = features()
    f[7] = f[2]  # items 3 and 8 share their text
    for cls in (ReaUniSRec, ReaMoRec):
        scores = make(cls, f).score(histories())
        np.testing.assert_allclose(scores[:, 3], scores[:, 8], rtol=1e-6)
        assert not np.allclose(scores[:, 3], scores[:, 4])
    fused = make(ReaUniSRec, f, id_fusion=True).score(histories())
    assert not np.allclose(fused[:, 3], fused[:, 8])  # the id embedding tells them apart


@pytest.mark.parametrize("cls, learning", [
    (ReaUniSRec, "erl"), (ReaUniSRec, "prl"), (ReaMoRec, "erl"), (ReaMoRec, "prl"),
    (UniSRec, None), (MoRec, None),
])
@pytest.mark.heavy
def test_training_lowers_the_loss_trains_the_adaptor_and_keeps_features(cls, learning, tmp_path):
    # A fixed seed: the outcome must not depend on which tests ran before.
    keras.utils.set_random_seed(0)
    kwargs = {"learning": learning, "reasoning_steps": 2} if learning else {}
    model = make(cls, noise_warmup_epochs=0, noise_std=0.01, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    rng = np.random.default_rng(0)
    h = rng.integers(1, N + 1, size=(32, L)).astype("int32")
    y = (h[:, -1] % N + 1).astype("int32")  # next item = last item + 1
    frozen = model.item_features().copy()
    adaptor = [w.copy() for w in model.adaptor.get_weights()]
    history = model.fit(h, y, batch_size=16, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    np.testing.assert_array_equal(model.item_features(), frozen)
    assert any(not np.allclose(a, b) for a, b in zip(adaptor, model.adaptor.get_weights()))
    # Save and load: the adaptor, features and class come back.
    path = str(tmp_path / "text.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls
    assert loaded.get_config()["item_features"] == "weights"
    np.testing.assert_array_equal(loaded.item_features(), frozen)
    np.testing.assert_allclose(loaded.score(h[:4]), model.score(h[:4]), rtol=1e-5, atol=1e-5)


def test_text_models_train_with_a_sampled_softmax():
    model = make(ReaMoRec, learning="prl", negatives="in_batch",
                 item_frequencies=np.arange(N + 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    h = histories(n=16)
    losses = model.fit(h, h[:, -1], batch_size=8, epochs=5, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


# ----------------------------------------------------------------------
# Cold start.


@pytest.mark.heavy
@pytest.mark.parametrize("fusion", [False, True])
def test_with_item_features_scores_new_items_from_their_text(fusion):
    model = make(ReaUniSRec, learning="prl", id_fusion=fusion)
    model.compile(optimizer="adam")
    h = histories(n=16)
    model.fit(h, h[:, -1], epochs=2, verbose=0)
    old = features()
    new = np.concatenate([old, old[[4]], features(seed=9, n=2)])  # item 13 = item 5's text
    grown = model.with_item_features(new)
    assert grown.num_items == N + 3 and type(grown) is ReaUniSRec
    before, after = model.score(h), grown.score(h)
    np.testing.assert_allclose(after[:, : N + 1], before, rtol=1e-5, atol=1e-5)
    if not fusion:
        np.testing.assert_allclose(after[:, N + 1], after[:, 5], rtol=1e-5)
    else:
        emb = grown.item_embedding.get_weights()[0]
        assert emb.shape == (N + 4, D) and not emb[N + 1 :].any()
    # New items can be inputs too.
    cold = np.array([[0, 0, 0, 1, N + 1, N + 3]], "int32")
    assert np.isfinite(grown.score(cold)).all()
    with pytest.raises(ValueError, match="fewer than"):
        model.with_item_features(old[:5])
    with pytest.raises(ValueError, match=f"\\[N, {F}\\]"):
        model.with_item_features(old[:, :3])


def test_with_item_features_keeps_the_sampler_counts():
    model = make(ReaMoRec, negatives="popularity", num_negatives=4,
                 item_frequencies=np.arange(N + 1))
    grown = model.with_item_features(np.concatenate([features(), features(seed=3, n=2)]))
    q = np.exp(numpy(grown.negative_sampler.log_q))
    np.testing.assert_allclose(q[1 : N + 1], np.arange(1, N + 1) / np.arange(N + 1).sum(),
                               rtol=1e-5)
    assert q[N + 1 :].max() < 1e-20


# ----------------------------------------------------------------------
# Errors.


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="needs `item_features`"):
        ReaUniSRec(N)
    with pytest.raises(ValueError, match="needs `num_items` and `feature_dim`"):
        ReaUniSRec(N, item_features="weights")
    with pytest.raises(ValueError, match="feature_dim=3"):
        ReaMoRec(N, item_features=features(), feature_dim=3)
    with pytest.raises(ValueError, match="has 12 rows but the catalog has num_items=20"):
        ReaMoRec(20, item_features=features())
    with pytest.raises(ValueError, match="reasoning_steps=0"):
        UniSRec(N, item_features=features(), reasoning_steps=2)
    with pytest.raises(ValueError, match="num_experts"):
        ReaUniSRec(N, item_features=features(), num_experts=0)
    with pytest.raises(ValueError, match="adaptor_dropout"):
        ReaMoRec(N, item_features=features(), adaptor_dropout=1.5)
    # The catalog size can come from the features.
    assert ReaMoRec(item_features=features()).num_items == N
