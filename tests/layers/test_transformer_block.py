import math

import keras
import numpy as np
import pytest

from rearec_keras.layers import TransformerBlock
from rearec_keras.layers import TransformerEncoder
from rearec_keras.layers import item_attention_mask
from rearec_keras.layers import merge_cache

D, H, FF = 8, 2, 12


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _block(**kwargs):
    kwargs.setdefault("dropout", 0.3)
    kwargs.setdefault("attention_dropout", 0.3)
    return TransformerBlock(hidden_dim=D, num_heads=H, intermediate_dim=FF, **kwargs)


def _encoder(num_layers=3, seed=7, **kwargs):
    keras.utils.set_random_seed(seed)
    return TransformerEncoder(
        num_layers=num_layers, hidden_dim=D, num_heads=H, intermediate_dim=FF, **kwargs
    )


def _record_rows(layer, seen):
    """Appends the number of rows (axis 1) of every input `layer` gets."""
    call = layer.call

    def recording(x, *args, **kwargs):
        seen.append(x.shape[1])
        return call(x, *args, **kwargs)

    layer.call = recording


def _assert_same_caches(caches_a, caches_b):
    for a, b in zip(caches_a, caches_b):
        for x, y in zip(merge_cache(a), merge_cache(b)):
            np.testing.assert_array_equal(_np(x), _np(y))


def _inputs(batch=3, length=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, length, D)).astype("float32")


PAD = np.array(
    [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=bool
)


def _numpy_block(block, x, mask):
    """Independent numpy reference of the post-LN block (eval mode)."""

    def dense(v, layer):
        w = _np(layer.kernel)
        b = _np(layer.bias)
        return v @ w.reshape(w.shape[0], -1) + b.reshape(-1)

    def ln(v, layer):
        mu = v.mean(-1, keepdims=True)
        var = v.var(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + 1e-12) * _np(layer.gamma) + _np(layer.beta)

    b, t, _ = x.shape
    dh = D // H
    q = dense(x, block.query_dense).reshape(b, t, H, dh)
    k = dense(x, block.key_dense).reshape(b, t, H, dh)
    v = dense(x, block.value_dense).reshape(b, t, H, dh)
    scores = np.einsum("bthk,bshk->bhts", q, k) / math.sqrt(dh)
    scores = scores + np.where(mask[:, None], 0.0, -1e10)
    scores = scores - scores.max(-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(-1, keepdims=True)
    ctx = np.einsum("bhts,bshk->bthk", probs, v).reshape(b, t, D)
    wo = _np(block.output_dense.kernel).reshape(D, D)
    attn = ctx @ wo + _np(block.output_dense.bias)
    a = ln(x + attn, block.attention_layer_norm)
    h = dense(a, block.intermediate_dense)
    erf = np.vectorize(math.erf)
    h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))  # exact GeLU
    f = dense(h, block.ffn_output_dense)
    return ln(a + f, block.ffn_layer_norm)


def test_matches_numpy_reference_post_ln_exact_gelu():
    keras.utils.set_random_seed(0)
    block = _block()
    x = _inputs()
    mask = _np(item_attention_mask(PAD, "causal"))
    block(x, attention_mask=mask)
    # Large random weights, so that GeLU's form, the 1/sqrt(d_h) scale and
    # the softmax all matter numerically (the 0.02 init would hide them).
    rng = np.random.default_rng(0)
    block.set_weights(
        [rng.normal(scale=0.7, size=w.shape).astype("float32") for w in block.get_weights()]
    )
    out, cache = block(x, attention_mask=mask, training=False)
    keys, values = merge_cache(cache)
    expected = _numpy_block(block, x, mask)
    real = PAD
    np.testing.assert_allclose(_np(out)[real], expected[real], atol=1e-5)
    assert keys.shape == (3, 5, H, D // H)
    assert values.shape == (3, 5, H, D // H)


def test_head_projections_equal_einsum_dense_with_the_same_weights():
    # The block runs its head projections as flat 2-D matmuls (fast kernel
    # gradients); they must keep EinsumDense's weights and results, so that
    # files saved with plain EinsumDense sublayers load and score the same.
    keras.utils.set_random_seed(0)
    block = _block()
    block(_inputs(), attention_mask=_np(item_attention_mask(PAD, "causal")))
    rng = np.random.default_rng(1)
    for layer, width in ((block.query_dense, D), (block.output_dense, (H, D // H))):
        plain = keras.layers.EinsumDense(
            layer.equation, output_shape=layer.partial_output_shape, bias_axes=layer.bias_axes
        )
        x = rng.normal(size=(3, 4) + ((width,) if isinstance(width, int) else width))
        x = x.astype("float32")
        plain.build(x.shape)
        assert [tuple(w.shape) for w in plain.weights] == [tuple(w.shape) for w in layer.weights]
        plain.set_weights([rng.normal(size=w.shape).astype("float32") for w in plain.weights])
        layer.set_weights(plain.get_weights())
        np.testing.assert_allclose(_np(layer(x)), _np(plain(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("slots", [1, 4])
def test_chunk_products_equal_the_einsums(slots):
    # One-slot chunks (a reasoning step's key/value) take a broadcast path,
    # longer ones a matmul: both must be the attention's two contractions.
    from rearec_keras.layers.transformer_block import _chunk_context
    from rearec_keras.layers.transformer_block import _chunk_scores

    rng = np.random.default_rng(slots)
    query = rng.normal(size=(3, H, 2, 4)).astype("float32")  # [B, H, T, dh]
    keys = rng.normal(size=(3, H, slots, 4)).astype("float32")
    probs = rng.random(size=(3, H, 2, slots)).astype("float32")
    scores = _np(_chunk_scores(query, keys))
    assert scores.shape == (3, H, 2, slots)
    np.testing.assert_allclose(scores, np.einsum("bhtk,bhsk->bhts", query, keys), rtol=1e-5,
                               atol=1e-6)
    context = _np(_chunk_context(probs, keys))
    assert context.shape == (3, H, 2, 4)
    np.testing.assert_allclose(context, np.einsum("bhts,bhsk->bhtk", probs, keys), rtol=1e-5,
                               atol=1e-6)


def test_initialisation_like_official_code():
    keras.utils.set_random_seed(0)
    block = TransformerBlock(hidden_dim=64, num_heads=2, intermediate_dim=256)
    block.build((None, None, 64))
    kernels = [
        block.query_dense.kernel,
        block.key_dense.kernel,
        block.value_dense.kernel,
        block.output_dense.kernel,
        block.intermediate_dense.kernel,
        block.ffn_output_dense.kernel,
    ]
    flat = [_np(k).reshape(-1) for k in kernels]
    for k in flat:
        assert abs(k.std() - 0.02) < 0.003
    # Each kernel draws its own values (no shared-seed clones).
    for i in range(len(flat)):
        for j in range(i + 1, len(flat)):
            n = min(flat[i].size, flat[j].size)
            assert not np.allclose(flat[i][:n], flat[j][:n])
    for layer in (block.query_dense, block.intermediate_dense, block.output_dense):
        assert not _np(layer.bias).any()
    np.testing.assert_array_equal(_np(block.attention_layer_norm.gamma), 1.0)
    np.testing.assert_array_equal(_np(block.ffn_layer_norm.beta), 0.0)
    assert block.attention_layer_norm.epsilon == 1e-12


@pytest.mark.parametrize("with_padding", [False, True])
def test_cached_incremental_decoding_equals_full_causal_pass(with_padding):
    keras.utils.set_random_seed(1)
    block = _block()
    x = _inputs()
    pad = PAD if with_padding else np.ones_like(PAD)
    full_mask = _np(item_attention_mask(pad, "causal"))
    full, full_cache = block(x, attention_mask=full_mask, training=False)
    full_k, full_v = merge_cache(full_cache)
    full = _np(full)

    cache = None
    rows = []
    for t in range(x.shape[1]):
        step_mask = full_mask[:, t : t + 1, : t + 1]
        out, cache = block(
            x[:, t : t + 1], attention_mask=step_mask, cache=cache, training=False
        )
        assert out.shape == (3, 1, D)
        assert merge_cache(cache)[0].shape == (3, t + 1, H, D // H)
        rows.append(_np(out)[:, 0])
    incremental = np.stack(rows, axis=1)
    np.testing.assert_allclose(incremental[pad], full[pad], atol=1e-5)
    np.testing.assert_allclose(_np(merge_cache(cache)[0]), _np(full_k), atol=1e-6)
    np.testing.assert_allclose(_np(merge_cache(cache)[1]), _np(full_v), atol=1e-6)

    # A prefix chunk followed by one-row steps gives the same answer.
    out, cache = block(
        x[:, :3], attention_mask=full_mask[:, :3, :3], training=False
    )
    out2, cache = block(
        x[:, 3:], attention_mask=full_mask[:, 3:, :], cache=cache, training=False
    )
    chunked = np.concatenate([_np(out), _np(out2)], axis=1)
    np.testing.assert_allclose(chunked[pad], full[pad], atol=1e-5)


def test_fully_masked_rows_are_finite():
    keras.utils.set_random_seed(2)
    block = _block()
    x = _inputs() * 100.0
    none_visible = np.zeros((3, 5, 5), bool)
    out, _ = block(x, attention_mask=none_visible, training=False)
    assert np.isfinite(_np(out)).all()
    mask = _np(item_attention_mask(PAD, "causal"))  # pad query rows see nothing
    out, _ = block(x, attention_mask=mask, training=True)
    assert np.isfinite(_np(out)).all()


def test_masked_keys_do_not_leak():
    keras.utils.set_random_seed(3)
    block = _block()
    x = _inputs()
    mask = _np(item_attention_mask(PAD, "bidirectional"))
    out1, _ = block(x, attention_mask=mask, training=False)
    x2 = x.copy()
    x2[~PAD] = 1e3  # change every padding slot
    out2, _ = block(x2, attention_mask=mask, training=False)
    np.testing.assert_allclose(_np(out1)[PAD], _np(out2)[PAD], atol=1e-6)


def test_no_mask_means_full_attention():
    keras.utils.set_random_seed(3)
    block = _block()
    x = _inputs()
    out1, _ = block(x, training=False)
    out2, _ = block(x, attention_mask=np.ones((3, 5, 5), bool), training=False)
    np.testing.assert_allclose(_np(out1), _np(out2), atol=1e-6)


def test_dropout_only_in_training():
    keras.utils.set_random_seed(4)
    block = _block(dropout=0.5, attention_dropout=0.5)
    x = _inputs()
    eval1 = _np(block(x, training=False)[0])
    eval2 = _np(block(x, training=False)[0])
    np.testing.assert_array_equal(eval1, eval2)
    train1 = _np(block(x, training=True)[0])
    train2 = _np(block(x, training=True)[0])
    assert not np.allclose(train1, eval1, atol=1e-3)
    assert not np.allclose(train1, train2, atol=1e-3)
    # Zero rates make training mode deterministic.
    block0 = _block(dropout=0.0, attention_dropout=0.0)
    np.testing.assert_allclose(
        _np(block0(x, training=True)[0]), _np(block0(x, training=False)[0]), atol=1e-6
    )


def test_config_round_trip_rebuilds_identical_layer():
    keras.utils.set_random_seed(5)
    block = _block(activation="relu", layer_norm_epsilon=1e-6, name="blk")
    x = _inputs()
    out, _ = block(x, training=False)
    restored = TransformerBlock.from_config(block.get_config())
    assert restored.get_config() == block.get_config()
    restored.build(x.shape)
    restored.set_weights(block.get_weights())
    out2, _ = restored(x, training=False)
    np.testing.assert_allclose(_np(out), _np(out2), atol=1e-6)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(block)
    )
    assert isinstance(clone, TransformerBlock)
    assert clone.activation == "relu"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_is_finite_and_close(policy):
    keras.utils.set_random_seed(6)
    block = _block()
    x = _inputs()
    mask = _np(item_attention_mask(PAD, "causal"))
    ref, _ = block(x, attention_mask=mask, training=False)
    low = _block(dtype=policy)
    low.build(x.shape)
    low.set_weights(block.get_weights())
    out, (keys, _) = low(x, attention_mask=mask, training=False)
    out = _np(keras.ops.cast(out, "float32"))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[PAD], _np(ref)[PAD], atol=0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_dim": 9, "num_heads": 2}, "divisible"),
        ({"num_heads": 0}, "num_heads"),
        ({"intermediate_dim": 0}, "intermediate_dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"attention_dropout": -0.1}, "attention_dropout"),
        ({"layer_norm_epsilon": 0.0}, "layer_norm_epsilon"),
        ({"activation": "not_an_activation"}, "activation"),
    ],
)
def test_bad_args(kwargs, match):
    args = {"hidden_dim": D, "num_heads": H, "intermediate_dim": FF}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TransformerBlock(**args)


def test_wrong_input_width_raises():
    with pytest.raises(ValueError, match="hidden_dim"):
        _block()(np.zeros((2, 3, D + 1), "float32"))


# ---------------------------------------------------------------- encoder


def test_encoder_cached_decoding_equals_full_pass():
    encoder = _encoder(seed=7)
    x = _inputs()
    mask = _np(item_attention_mask(PAD, "causal"))
    full, caches = encoder(x, attention_mask=mask, training=False)
    assert isinstance(caches, list) and len(caches) == 3
    assert all(merge_cache(c)[0].shape == (3, 5, H, D // H) for c in caches)
    out_a, cache = encoder(x[:, :2], attention_mask=mask[:, :2, :2], training=False)
    rows = [_np(out_a)]
    for t in range(2, 5):
        out, cache = encoder(
            x[:, t : t + 1], attention_mask=mask[:, t : t + 1, : t + 1],
            cache=cache, training=False,
        )
        rows.append(_np(out))
    incremental = np.concatenate(rows, axis=1)
    np.testing.assert_allclose(incremental[PAD], _np(full)[PAD], atol=1e-5)
    with pytest.raises(ValueError, match="one \\(keys, values\\) pair per block"):
        encoder(x, cache=cache[:1])


def test_encoder_config_round_trip():
    encoder = _encoder(num_layers=2, seed=8, dropout=0.1, attention_dropout=0.2)
    x = _inputs()
    out, _ = encoder(x, training=False)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(encoder)
    )
    assert restored.get_config() == encoder.get_config()
    assert restored.built  # rebuilt from its build config
    restored.set_weights(encoder.get_weights())
    np.testing.assert_allclose(_np(restored(x, training=False)[0]), _np(out), atol=1e-6)
    with pytest.raises(ValueError, match="num_layers"):
        TransformerEncoder(num_layers=0, hidden_dim=D, num_heads=H, intermediate_dim=FF)


def test_bidirectional_depends_on_later_items_causal_does_not():
    encoder = _encoder(num_layers=2, seed=9)
    pad = np.ones((3, 5), bool)
    x = _inputs()
    x_later = x.copy()
    x_later[:, 3:] += 1.0  # change items after slot 2
    for mode, should_change in (("causal", False), ("bidirectional", True)):
        mask = _np(item_attention_mask(pad, mode))
        a = _np(encoder(x, attention_mask=mask, training=False)[0])
        b = _np(encoder(x_later, attention_mask=mask, training=False)[0])
        changed = not np.allclose(a[:, :3], b[:, :3], atol=1e-6)
        assert changed == should_change, mode


@pytest.mark.parametrize("with_cache", [False, True])
def test_output_last_only_equals_last_row_and_keeps_the_cache(with_cache):
    keras.utils.set_random_seed(3)
    block = _block()
    x = _inputs()
    mask = _np(item_attention_mask(PAD, "causal"))
    cache = None
    if with_cache:  # two cached slots, then three new ones
        _, cache = block(x[:, :2], attention_mask=mask[:, :2, :2], training=False)
        x_new, mask_new = x[:, 2:], mask[:, 2:, :]
    else:
        x_new, mask_new = x, mask
    full, full_cache = block(x_new, attention_mask=mask_new, cache=cache, training=False)
    queries, keys, ffn = [], [], []
    _record_rows(block.query_dense, queries)
    _record_rows(block.key_dense, keys)
    _record_rows(block.intermediate_dense, ffn)
    last, last_cache = block(
        x_new, attention_mask=mask_new, cache=cache, training=False,
        output_last_only=True,
    )
    # The saving itself: queries and feed-forward for one row, keys for all.
    assert (queries, ffn, keys) == ([1], [1], [x_new.shape[1]])
    assert tuple(last.shape) == (3, 1, D)
    np.testing.assert_allclose(_np(last), _np(full)[:, -1:], atol=1e-6)
    _assert_same_caches([full_cache], [last_cache])
    # Independent of the numpy reference too (no cache case).
    if not with_cache:
        ref = _numpy_block(block, x, mask)
        np.testing.assert_allclose(_np(last)[:, 0], ref[:, -1], atol=1e-5)


def test_encoder_output_last_only_runs_only_the_last_block_on_one_row():
    encoder = _encoder(seed=4)
    x = _inputs()
    mask = _np(item_attention_mask(PAD, "causal"))
    full, caches = encoder(x, attention_mask=mask, training=False)
    rows = [[] for _ in encoder.blocks]
    for block, seen in zip(encoder.blocks, rows):
        _record_rows(block.intermediate_dense, seen)
    last, last_caches = encoder(
        x, attention_mask=mask, training=False, output_last_only=True
    )
    # Earlier blocks feed every row to the next one; the last runs one.
    assert rows == [[5], [5], [1]]
    assert tuple(last.shape) == (3, 1, D)
    np.testing.assert_allclose(_np(last), _np(full)[:, -1:], atol=1e-6)
    _assert_same_caches(caches, last_caches)
