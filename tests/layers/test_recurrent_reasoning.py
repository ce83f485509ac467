import keras
import numpy as np
import pytest

from rearec_keras.layers import LeftPaddedPositionEmbedding
from rearec_keras.layers import RecurrentReasoning
from rearec_keras.layers import TransformerEncoder
from rearec_keras.layers import full_attention_mask

D, H, FF, L = 8, 2, 12, 6
MODES = ["causal", "bidirectional"]

HISTORIES = np.array(
    [
        [0, 0, 0, 3, 7, 2],  # len 3
        [4, 5, 6, 1, 2, 3],  # len 6 (full)
        [0, 0, 0, 0, 0, 9],  # len 1
        [0, 8, 8, 1, 4, 5],  # len 5
    ]
)
PAD = HISTORIES != 0
B = HISTORIES.shape[0]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _encoder(dropout=0.3):
    return TransformerEncoder(
        num_layers=2,
        hidden_dim=D,
        num_heads=H,
        intermediate_dim=FF,
        dropout=dropout,
        attention_dropout=dropout,
    )


def _reasoning(k=3, encoder=None, **kwargs):
    return RecurrentReasoning(
        encoder if encoder is not None else _encoder(),
        reasoning_steps=k,
        hidden_dim=D,
        **kwargs,
    )


def _items(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, L, D)).astype("float32")


def _full_recompute(layer, items, reasoning_inputs, mode):
    """Runs the encoder once on [items; reasoning inputs] with the full mask."""
    k = reasoning_inputs.shape[1]
    z = np.concatenate([items, reasoning_inputs], axis=1)
    if layer.input_norm is not None:
        z = layer.input_norm(z)
    outputs, _ = layer.encoder(
        z, attention_mask=full_attention_mask(PAD, k, mode), training=False
    )
    # r_0 sits at the newest item (slot L-1), r_j at slot L-1+j.
    return _np(outputs)[:, L - 1 :]


# ------------------------------------------------------------- (a) cache


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_cached_decoding_equals_full_recomputation(k, mode):
    keras.utils.set_random_seed(k)
    layer = _reasoning(k)
    items = _items(k)
    out = layer(items, PAD, mode=mode, training=False, return_reasoning_inputs=True)
    states = _np(out["states"])
    assert states.shape == (B, k + 1, D)
    # Build the reasoning inputs independently: r_{s-1} + P^R[s-1].
    table = _np(layer.reasoning_position_embedding.embeddings)
    inputs = states[:, :-1] + table[None, :k]
    np.testing.assert_allclose(_np(out["reasoning_inputs"]), inputs, atol=1e-6)
    recomputed = _full_recompute(layer, items, inputs, mode)
    assert np.abs(recomputed - states).max() < 1e-5


# ------------------------------------------------------------- (b) r_0


@pytest.mark.parametrize("mode", MODES)
def test_r0_is_identical_for_any_k(mode):
    keras.utils.set_random_seed(10)
    encoder = _encoder()
    items = _items(1)
    r0 = []
    for k in range(6):
        layer = _reasoning(k, encoder=encoder)
        r0.append(_np(layer(items, PAD, mode=mode, training=False)["states"])[:, 0])
    for other in r0[1:]:
        np.testing.assert_allclose(other, r0[0], atol=1e-6)
    # r_0 is the encoder output at the newest item (plain backbone).
    z = layer.input_norm(items)
    from rearec_keras.layers import item_attention_mask

    base, _ = encoder(z, attention_mask=item_attention_mask(PAD, mode), training=False)
    np.testing.assert_allclose(r0[0], _np(base)[:, -1], atol=1e-6)


# ------------------------------------------------------------- (c) steps


@pytest.mark.parametrize("mode", MODES)
def test_lowering_steps_gives_prefix(mode):
    keras.utils.set_random_seed(11)
    layer = _reasoning(4)
    items = _items(2)
    full = _np(layer(items, PAD, mode=mode, training=False)["states"])
    assert full.shape == (B, 5, D)
    for steps in range(5):
        part = _np(layer(items, PAD, mode=mode, steps=steps, training=False)["states"])
        assert part.shape == (B, steps + 1, D)
        np.testing.assert_allclose(part, full[:, : steps + 1], atol=1e-6)


# ------------------------------------------------------------- (d) K = 0


def test_k0_is_the_plain_backbone():
    keras.utils.set_random_seed(12)
    layer = _reasoning(0)
    out = layer(_items(), PAD, training=False, return_reasoning_inputs=True)
    assert out["states"].shape == (B, 1, D)
    assert out["reasoning_inputs"].shape == (B, 0, D)
    assert layer.reasoning_position_embedding is None
    assert not [w for w in layer.weights if "reasoning_position" in w.path]
    # noise has nothing to act on with K=0 but the twin is still produced.
    out = layer(_items(), PAD, noise_std=0.1, training=False)
    np.testing.assert_allclose(
        _np(out["noisy_states"]), _np(out["states"]), atol=1e-6
    )


# ------------------------------------------------------------- (e) naive


def test_without_reasoning_position_creates_no_weights_and_changes_states():
    keras.utils.set_random_seed(13)
    encoder = _encoder()
    with_rpe = _reasoning(3, encoder=encoder)
    naive = _reasoning(3, encoder=encoder, use_reasoning_position=False)
    items = _items(3)
    a = _np(with_rpe(items, PAD, training=False)["states"])
    out = naive(items, PAD, training=False, return_reasoning_inputs=True)
    b = _np(out["states"])
    assert naive.reasoning_position_embedding is None
    assert not [w for w in naive.weights if "reasoning_position" in w.path]
    assert len(with_rpe.weights) == len(naive.weights) + 1
    np.testing.assert_allclose(a[:, 0], b[:, 0], atol=1e-6)
    assert not np.allclose(a[:, 1:], b[:, 1:], atol=1e-4)
    # The naive input of step s is exactly r_{s-1}.
    np.testing.assert_allclose(_np(out["reasoning_inputs"]), b[:, :-1], atol=1e-6)
    np.testing.assert_allclose(
        _full_recompute(naive, items, b[:, :-1], "causal"), b, atol=1e-5
    )


def test_plain_inputs_without_layer_norm_or_dropout():
    keras.utils.set_random_seed(14)
    layer = _reasoning(2, input_layer_norm=False, input_dropout=0.0)
    assert layer.input_norm is None
    assert not [w for w in layer.weights if "input_layer_norm" in w.path]
    items = _items(4)
    out = layer(items, PAD, training=False, return_reasoning_inputs=True)
    states = _np(out["states"])
    recomputed = _full_recompute(
        layer, items, _np(out["reasoning_inputs"]), "causal"
    )
    np.testing.assert_allclose(recomputed, states, atol=1e-5)


# ------------------------------------------------------------- (f) twin


class _RecordingEncoder(TransformerEncoder):
    """Records the batch size of every encoder call."""

    def call(self, inputs, attention_mask=None, cache=None, training=None):
        self.batch_sizes.append(int(inputs.shape[0]))
        return super().call(
            inputs, attention_mask=attention_mask, cache=cache, training=training
        )


def _recording_encoder(dropout=0.0):
    encoder = _RecordingEncoder(
        num_layers=2, hidden_dim=D, num_heads=H, intermediate_dim=FF,
        dropout=dropout, attention_dropout=dropout,
    )
    encoder.batch_sizes = []
    return encoder


@pytest.mark.parametrize("mode", MODES)
def test_noisy_twin_clean_inputs(mode):
    keras.utils.set_random_seed(15)
    encoder = _recording_encoder()
    layer = _reasoning(3, encoder=encoder, input_dropout=0.0)
    items = _items(5)
    plain = _np(layer(items, PAD, mode=mode, training=True)["states"])
    assert encoder.batch_sizes == [B] * 4  # no duplication without noise
    encoder.batch_sizes.clear()

    std = 0.1
    out = layer(
        items, PAD, mode=mode, noise_std=std, training=True,
        return_reasoning_inputs=True,
    )
    assert encoder.batch_sizes == [2 * B] * 4  # [clean; twin] from step 0
    states, noisy = _np(out["states"]), _np(out["noisy_states"])
    assert noisy.shape == states.shape == (B, 4, D)
    # The clean half is untouched by the twin.
    np.testing.assert_allclose(states, plain, atol=1e-5)
    # No noise at step 0 (dropout is 0 here): identical r_0.
    np.testing.assert_allclose(noisy[:, 0], states[:, 0], atol=1e-6)
    assert not np.allclose(noisy[:, 1:], states[:, 1:], atol=1e-4)

    # Twin input at step s = clean r_{s-1} + P^R[s-1] + eps, eps ~ N(0, std^2).
    table = _np(layer.reasoning_position_embedding.embeddings)
    clean_inputs = states[:, :-1] + table[None, :3]
    np.testing.assert_allclose(_np(out["reasoning_inputs"]), clean_inputs, atol=1e-5)
    twin_inputs = _np(out["twin_reasoning_inputs"])
    eps = twin_inputs - clean_inputs
    assert 0.06 < eps.std() < 0.14
    assert abs(eps.mean()) < 0.04
    # The twin's outputs follow from exactly those inputs and its own cache.
    recomputed = _full_recompute(layer, items, twin_inputs, mode)
    np.testing.assert_allclose(recomputed, noisy, atol=1e-5)


@pytest.mark.parametrize("twin_inputs", ["clean", "noisy"])
def test_twin_noise_is_exactly_the_seeded_gaussian(twin_inputs):
    """Reproduces eps from the layer's noise seed: one [B, d] draw per step."""
    keras.utils.set_random_seed(24)
    std = 0.05
    layer = _reasoning(
        3, encoder=_encoder(dropout=0.2), input_dropout=0.2, seed=1234
    )
    out = layer(
        _items(10), PAD, noise_std=std, twin_inputs=twin_inputs, training=True,
        return_reasoning_inputs=True,
    )
    generator = keras.random.SeedGenerator(1234)
    eps = np.stack(
        [
            _np(keras.random.normal((B, D), stddev=std, dtype="float32", seed=generator))
            for _ in range(3)
        ],
        axis=1,
    )
    table = _np(layer.reasoning_position_embedding.embeddings)
    source = out["states"] if twin_inputs == "clean" else out["noisy_states"]
    expected = _np(source)[:, :-1] + table[None, :3] + eps
    np.testing.assert_allclose(_np(out["twin_reasoning_inputs"]), expected, atol=1e-6)
    # The clean inputs carry no noise.
    np.testing.assert_allclose(
        _np(out["reasoning_inputs"]),
        _np(out["states"])[:, :-1] + table[None, :3],
        atol=1e-6,
    )


def test_noisy_twin_noisy_inputs_feed_its_own_states():
    keras.utils.set_random_seed(16)
    layer = _reasoning(3, encoder=_encoder(dropout=0.0), input_dropout=0.0)
    items = _items(6)
    out = layer(
        items, PAD, noise_std=0.1, twin_inputs="noisy", training=True,
        return_reasoning_inputs=True,
    )
    states, noisy = _np(out["states"]), _np(out["noisy_states"])
    table = _np(layer.reasoning_position_embedding.embeddings)
    twin_inputs = _np(out["twin_reasoning_inputs"])
    eps = twin_inputs - (noisy[:, :-1] + table[None, :3])
    assert 0.06 < eps.std() < 0.14
    # Not built from the clean states after the first step.
    eps_clean = twin_inputs[:, 1:] - (states[:, 1:-1] + table[None, 1:3])
    assert np.abs(eps_clean).max() > 0.5 * np.abs(eps[:, 1:]).max()
    assert not np.allclose(eps_clean, eps[:, 1:], atol=1e-3)
    recomputed = _full_recompute(layer, items, twin_inputs, "causal")
    np.testing.assert_allclose(recomputed, noisy, atol=1e-5)


def test_twin_gets_independent_dropout_masks():
    keras.utils.set_random_seed(17)
    layer = _reasoning(2, encoder=_encoder(dropout=0.3), input_dropout=0.2)
    out = layer(_items(7), PAD, noise_std=0.01, training=True)
    # Step 0 carries no noise: a difference can only come from dropout.
    assert not np.allclose(
        _np(out["noisy_states"])[:, 0], _np(out["states"])[:, 0], atol=1e-4
    )


def test_no_twin_when_noise_is_zero():
    keras.utils.set_random_seed(18)
    layer = _reasoning(2)
    out = layer(_items(), PAD, noise_std=0.0, training=True, return_reasoning_inputs=True)
    assert set(out) == {"states", "reasoning_inputs"}
    assert out["states"].shape == (B, 3, D)


# ------------------------------------------------------------- padding


@pytest.mark.parametrize("mode", MODES)
def test_padding_rows_never_leak(mode):
    keras.utils.set_random_seed(19)
    num_items = 10
    item_table = keras.layers.Embedding(
        num_items + 1, D, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02)
    )
    positions = LeftPaddedPositionEmbedding(max_length=L, hidden_dim=D)
    layer = _reasoning(3)

    def run():
        x = item_table(HISTORIES) + positions(PAD)
        return _np(layer(x, PAD, mode=mode, training=False)["states"])

    before = run()
    rng = np.random.default_rng(0)
    emb = _np(item_table.embeddings).copy()
    emb[0] = rng.normal(size=D) * 10.0  # item pad row
    item_table.embeddings.assign(emb)
    pos = _np(positions.embeddings).copy()
    pos[L] = rng.normal(size=D) * 10.0  # position pad row
    positions.embeddings.assign(pos)
    after = run()
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert np.isfinite(after).all()


def test_training_mode_uses_dropout():
    keras.utils.set_random_seed(20)
    layer = _reasoning(2)
    items = _items()
    a = _np(layer(items, PAD, training=False)["states"])
    b = _np(layer(items, PAD, training=False)["states"])
    np.testing.assert_array_equal(a, b)
    c = _np(layer(items, PAD, training=True)["states"])
    assert not np.allclose(a, c, atol=1e-4)


def test_gradients_flow_through_the_cache(value_and_grad):
    keras.utils.set_random_seed(21)
    layer = _reasoning(2)
    layer(_items(), PAD)  # build

    def loss(items):
        states = layer(items, PAD, training=True)["states"]
        return keras.ops.sum(states[:, -1] ** 2)

    _, grads = value_and_grad(loss, [_items()], layer.trainable_weights)
    assert len(grads) == 1 + len(layer.trainable_weights) > 1
    assert all(g is not None for g in grads)
    assert np.abs(grads[0]).sum() > 0


# ------------------------------------------------------------- (g) saving


def test_serialization_round_trip_gives_identical_outputs():
    keras.utils.set_random_seed(22)
    layer = _reasoning(
        3, use_reasoning_position=True, input_dropout=0.1, seed=3, name="rr"
    )
    items = _items(8)
    out = _np(layer(items, PAD, mode="bidirectional", training=False)["states"])
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, RecurrentReasoning)
    assert isinstance(restored.encoder, TransformerEncoder)
    assert restored.encoder is not layer.encoder
    assert restored.get_config() == layer.get_config()
    if not restored.built:
        restored.build(items.shape)
    assert [(w.name, w.shape) for w in restored.weights] == [
        (w.name, w.shape) for w in layer.weights
    ]
    restored.set_weights(layer.get_weights())
    again = _np(restored(items, PAD, mode="bidirectional", training=False)["states"])
    np.testing.assert_allclose(again, out, atol=1e-6)


def test_keras_file_round_trip(tmp_path):
    keras.utils.set_random_seed(23)
    layer = _reasoning(2)
    x_in = keras.Input((L, D))
    m_in = keras.Input((L,), dtype="bool")
    model = keras.Model([x_in, m_in], layer(x_in, m_in))
    items = _items(9)
    expected = _np(model.predict([items, PAD], verbose=0)["states"])
    path = tmp_path / "reasoning.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    got = _np(loaded.predict([items, PAD], verbose=0)["states"])
    np.testing.assert_allclose(got, expected, atol=1e-6)


# ------------------------------------------------------------- (h) errors


def test_steps_out_of_range():
    layer = _reasoning(2)
    with pytest.raises(ValueError, match=r"steps=3 with reasoning_steps=2"):
        layer(_items(), PAD, steps=3)
    with pytest.raises(ValueError, match=r"steps=-1 with reasoning_steps=2"):
        layer(_items(), PAD, steps=-1)


def test_encoder_without_cache_api():
    with pytest.raises(TypeError, match="cache interface"):
        RecurrentReasoning(keras.layers.Dense(D), reasoning_steps=2, hidden_dim=D)
    with pytest.raises(TypeError, match="cache interface"):
        RecurrentReasoning(object(), reasoning_steps=2, hidden_dim=D)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reasoning_steps": -1}, "reasoning_steps"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"input_dropout": 1.5}, "input_dropout"),
        ({"layer_norm_epsilon": -1.0}, "layer_norm_epsilon"),
    ],
)
def test_bad_constructor_args(kwargs, match):
    args = {"reasoning_steps": 2, "hidden_dim": D}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        RecurrentReasoning(_encoder(), **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "prefix"}, "mode"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"twin_inputs": "both"}, "twin_inputs"),
    ],
)
def test_bad_call_args(kwargs, match):
    layer = _reasoning(2)
    with pytest.raises(ValueError, match=match):
        layer(_items(), PAD, **kwargs)


def test_wrong_hidden_dim_of_inputs():
    layer = _reasoning(2)
    with pytest.raises(ValueError, match="hidden_dim"):
        layer(np.zeros((B, L, D + 2), "float32"), PAD)


class _PlainCacheEncoder(keras.layers.Layer):
    """A third-party encoder with the bare cache interface (no
    `output_last_only`): records the keyword arguments it was called with."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.calls = []

    def build(self, shape):
        self.inner.build(shape)
        self.built = True

    def call(self, inputs, attention_mask=None, cache=None, training=None):
        self.calls.append(tuple(inputs.shape))
        return self.inner(
            inputs, attention_mask=attention_mask, cache=cache, training=training
        )


@pytest.mark.parametrize("mode", MODES)
def test_encoder_without_output_last_only_gives_the_same_states(mode):
    keras.utils.set_random_seed(11)
    layer = _reasoning(k=3)
    items = _items()
    expected = _np(layer(items, PAD, mode=mode, training=False)["states"])
    plain = _PlainCacheEncoder(layer.encoder)
    other = _reasoning(k=3, encoder=plain)
    other.build(items.shape)
    other.set_weights(layer.get_weights())
    got = _np(other(items, PAD, mode=mode, training=False)["states"])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Step 0 gave the plain encoder all L slots, then one slot per step.
    assert plain.calls[0][1] == L and all(c[1] == 1 for c in plain.calls[1:])


def test_step_0_asks_a_capable_encoder_for_the_last_row_only():
    """The speed-up is used: step 0 of a TransformerEncoder computes one
    output row, and the states still equal a full recomputation."""
    seen = []

    class Spy(TransformerEncoder):
        def call(self, inputs, attention_mask=None, cache=None, training=None,
                 output_last_only=False):
            outputs, new_cache = super().call(
                inputs, attention_mask=attention_mask, cache=cache, training=training,
                output_last_only=output_last_only,
            )
            seen.append((output_last_only, tuple(outputs.shape)))
            return outputs, new_cache

    keras.utils.set_random_seed(12)
    spy = Spy(num_layers=2, hidden_dim=D, num_heads=H, intermediate_dim=FF)
    layer = _reasoning(k=2, encoder=spy)
    items = _items()
    out = layer(items, PAD, training=False, return_reasoning_inputs=True)
    assert seen[0] == (True, (B, 1, D))  # step 0: one row, not L
    assert all(rows == (B, 1, D) for _, rows in seen[1:])
    np.testing.assert_allclose(
        _np(out["states"]),
        _full_recompute(layer, items, _np(out["reasoning_inputs"]), "causal"),
        atol=1e-5,
    )
