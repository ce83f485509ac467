"""Post-LN Transformer block with an incremental-decoding KV cache."""

import itertools
import math

import keras
from keras import ops

from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate

# Added to the logits of masked keys (in float32). One constant, added once.
_MASK_LOGIT = -1e10


def _clone_initializer(initializer):
    """A fresh copy, so that unseeded initializers draw new values per weight.

    Keras 3 random initializers fix their seed at construction, so one
    instance shared by several weights would give them identical values.
    """
    return keras.initializers.get(keras.initializers.serialize(initializer))


# The block's two head projections; `_HeadProjection` runs exactly these.
_INTO_HEADS = "btd,dhk->bthk"
_OUT_OF_HEADS = "bthk,hkd->btd"


def _chunk_scores(query, key):
    """`[B, H, T, dh] x [B, H, S, dh] -> [B, H, T, S]` dot products.

    A one-slot chunk (a reasoning step's key) is an elementwise product
    and a sum: TensorFlow runs a batched matmul with an inner size of one
    as B·H tiny GEMMs, forward and backward. Longer chunks are one matmul
    against the transposed keys (not an einsum: TensorFlow's einsum adds
    transposes around its batched matmul, ~12 % slower for the item pass).
    """
    if key.shape[2] == 1:
        return ops.sum(query * key, axis=-1, keepdims=True)
    return ops.matmul(query, ops.swapaxes(key, -1, -2))


def _chunk_context(probs, value):
    """`[B, H, T, S] x [B, H, S, dh] -> [B, H, T, dh]`: the probability-
    weighted values of one chunk (a broadcast product for one slot)."""
    if value.shape[2] == 1:
        return probs * value
    return ops.matmul(probs, value)


def _split_last(x, sizes):
    """`x` cut along its last axis into consecutive pieces of static `sizes`.

    TensorFlow: one `Split`, whose gradient is one concat. Static slices
    there cost a `StridedSliceGrad` each in the backward pass, which made a
    one-row reasoning step's attention ~35 % slower (micro-benchmark, d=64,
    batch 256). Other backends: static slices (torch's split turns the split
    points into a tensor and back, which torch.compile rejects).
    """
    if keras.backend.backend() == "tensorflow":
        return ops.split(x, list(itertools.accumulate(sizes[:-1])), axis=-1)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(x[..., start : start + size])
        start += size
    return pieces


class _HeadProjection(keras.layers.EinsumDense):
    """An `EinsumDense` between `[..., d]` and heads `[..., H, dh]`, run as
    one 2-D matmul over the flattened heads.

    Same weights, shapes and results as `EinsumDense` (so saved blocks load
    unchanged). TensorFlow lowers `btd,dhk->bthk` to a broadcast
    BatchMatMul whose kernel gradient builds a `[d, H * dh]` product per
    example and then sums them over the batch: for the one-row reasoning
    steps that was ~11x the cost of the matmul itself (d=256, batch 256),
    and ~1.4x for a 50-row pass. `ops.matmul` of a `[B, T, n]` tensor with
    a 2-D kernel is one GEMM forward and backward on every backend.
    """

    def call(self, inputs, training=None):
        if self.quantization_mode is not None:
            return super().call(inputs, training=training)
        kernel = self.kernel
        shape = ops.shape(inputs)
        if self.equation == _INTO_HEADS:
            heads, head_dim = kernel.shape[1], kernel.shape[2]
            x = ops.matmul(inputs, ops.reshape(kernel, (kernel.shape[0], heads * head_dim)))
            x = ops.reshape(x, (shape[0], shape[1], heads, head_dim))
        else:  # _OUT_OF_HEADS
            width = kernel.shape[0] * kernel.shape[1]
            x = ops.reshape(inputs, (shape[0], shape[1], width))
            x = ops.matmul(x, ops.reshape(kernel, (width, kernel.shape[2])))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x


@keras.saving.register_keras_serializable(package="rearec_keras")
class TransformerBlock(keras.layers.Layer):
    """Post-LN Transformer block (SASRec / RecBole style) with a KV cache.

    ```
    a = LayerNorm(x + Dropout(W_o · MultiHeadAttention(x)))
    y = LayerNorm(a + Dropout(W_2 · act(W_1 · a)))
    ```

    Attention uses separate query/key/value projections (with bias) split
    into `num_heads` heads of size `hidden_dim // num_heads`, scaled
    dot-product scores, an additive mask (`-1e10` added once to masked logits,
    computed in float32 so that mixed precision stays safe), a float32
    softmax and dropout on the attention probabilities.

    The block supports incremental decoding: the keys/values of `inputs` are
    appended to the optional `cache` and returned, and only the `T` rows of
    `inputs` are queries. A ReaRec reasoning step therefore costs one query
    row over the cached prefix, not a recomputation of every position.

    A query row whose keys are all masked (a left-padding slot under a causal
    mask) gets a uniform attention distribution and stays finite; such rows
    are never read by a correct mask for real slots.

    Args:
        hidden_dim: int >= 1. Model width `d`; must be divisible by
            `num_heads`.
        num_heads: int >= 1. Number of attention heads (official code: 2).
        intermediate_dim: int >= 1. Inner size of the feed-forward network
            (official code: 300 for d=256).
        dropout: float in [0, 1). Dropout after the attention output
            projection and after the feed-forward network (official: 0.5).
        attention_dropout: float in [0, 1). Dropout on the attention
            probabilities (official: 0.5).
        layer_norm_epsilon: float > 0. Epsilon of both LayerNorms (1e-12).
        activation: activation of the feed-forward network. `"gelu"` is the
            exact erf form; any other name is resolved by
            `keras.activations.get` (e.g. `"relu"`).
        kernel_initializer: initializer of every projection kernel. Defaults
            to `RandomNormal(stddev=0.02)` (official code); cloned per weight.
        bias_initializer: initializer of every bias. Defaults to `"zeros"`.
        norm_first: pre-LN (`x + f(LN(x))`, RecBole 3.0's LARES) instead of
            the default post-LN (`LN(x + f(x))`, SASRec, RecBole).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `[batch, T, hidden_dim]`: the new slots.
        attention_mask: optional bool tensor `[batch, T, S + T]` (`True` = the
            query may attend to the key), where `S` is the cache length (0
            without a cache). `None` lets every query see every key.
        cache: optional `(keys, values)` of the `S` earlier slots, as
            returned by a previous call: tuples of chunks in attention
            layout `[batch, num_heads, S_c, hidden_dim // num_heads]` (one
            chunk per earlier call). A merged pair of tensors
            `[batch, S, num_heads, hidden_dim // num_heads]` is accepted too.
        training: bool. Whether dropout is active.
        output_last_only: bool. Compute the output of the last new slot only
            (`outputs` is `[batch, 1, hidden_dim]`); keys and values still
            cover all `T` new slots, so the cache is the same.

    Returns:
        A tuple `(outputs, (keys, values))`: `outputs` is
        `[batch, T, hidden_dim]` (`[batch, 1, hidden_dim]` with
        `output_last_only`); `keys`/`values` are the cache's chunks
        with one chunk for the new slots appended (`merge_cache` gives them
        as `[batch, S + T, num_heads, hidden_dim // num_heads]`). Chunks
        avoid copying the cache at every step.

    Example:

    ```python
    block = TransformerBlock(hidden_dim=64, num_heads=2, intermediate_dim=128)
    x = np.random.rand(4, 10, 64).astype("float32")
    mask = item_attention_mask(np.ones((4, 10), bool), "causal")
    y, cache = block(x, attention_mask=mask)           # [4, 10, 64]
    new = np.random.rand(4, 1, 64).astype("float32")
    step_mask = np.ones((4, 1, 11), bool)
    y_new, cache = block(new, attention_mask=step_mask, cache=cache)  # [4, 1, 64]
    ```

    Reference:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Kang & McAuley, 2018 (SASRec)](https://arxiv.org/abs/1808.09781)
        - RecBole `TransformerLayer`; official ReaRec code.
    """

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        intermediate_dim: int,
        dropout: float = 0.5,
        attention_dropout: float = 0.5,
        layer_norm_epsilon: float = 1e-12,
        activation="gelu",
        kernel_initializer=None,
        bias_initializer="zeros",
        norm_first=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.norm_first = bool(norm_first)
        check_int("hidden_dim", hidden_dim, 1)
        check_int("num_heads", num_heads, 1)
        check_int("intermediate_dim", intermediate_dim, 1)
        if hidden_dim % num_heads != 0:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        check_rate("dropout", dropout)
        check_rate("attention_dropout", attention_dropout)
        if not isinstance(layer_norm_epsilon, (int, float)) or not (
            layer_norm_epsilon > 0
        ):
            raise ValueError(
                "`layer_norm_epsilon` must be a float > 0. Received: "
                f"layer_norm_epsilon={layer_norm_epsilon!r}"
            )
        if isinstance(activation, str):
            if activation != "gelu":
                try:
                    keras.activations.get(activation)
                except ValueError as e:
                    raise ValueError(
                        f"Unknown `activation`: {activation!r}."
                    ) from e
        elif isinstance(activation, dict):
            activation = keras.activations.deserialize(activation)
        elif not callable(activation):
            raise ValueError(
                "`activation` must be an activation name or a callable. "
                f"Received: activation={activation!r}"
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.activation = activation
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _activation_fn(self, x):
        if self.activation == "gelu":
            return keras.activations.gelu(x, approximate=False)
        return keras.activations.get(self.activation)(x)

    def _projection(self, name):
        return _HeadProjection(
            _INTO_HEADS,
            output_shape=(None, self.num_heads, self.head_dim),
            bias_axes="hk",
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape):
        if inputs_shape[-1] is not None and inputs_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"{self.__class__.__name__} '{self.name}' expects inputs with "
                f"last dimension hidden_dim={self.hidden_dim}. Received input "
                f"shape {tuple(inputs_shape)}"
            )
        shape = (None, None, self.hidden_dim)
        self.query_dense = self._projection("query")
        self.query_dense.build(shape)
        self.key_dense = self._projection("key")
        self.key_dense.build(shape)
        self.value_dense = self._projection("value")
        self.value_dense.build(shape)
        self.output_dense = _HeadProjection(
            _OUT_OF_HEADS,
            output_shape=(None, self.hidden_dim),
            bias_axes="d",
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="attention_output",
        )
        self.output_dense.build((None, None, self.num_heads, self.head_dim))
        self.attention_probs_dropout = keras.layers.Dropout(
            self.attention_dropout,
            dtype=self.dtype_policy,
            name="attention_probs_dropout",
        )
        self.attention_output_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_output_dropout"
        )
        self.attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="attention_layer_norm",
        )
        self.attention_layer_norm.build(shape)
        self.intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="intermediate",
        )
        self.intermediate_dense.build(shape)
        self.ffn_output_dense = keras.layers.Dense(
            self.hidden_dim,
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="ffn_output",
        )
        self.ffn_output_dense.build((None, None, self.intermediate_dim))
        self.ffn_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="ffn_dropout"
        )
        self.ffn_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="ffn_layer_norm",
        )
        self.ffn_layer_norm.build(shape)
        self.built = True

    def call(
        self,
        inputs,
        attention_mask=None,
        cache=None,
        training=None,
        output_last_only=False,
    ):
        # Keys and values always cover every new slot (the cache needs
        # them). With `output_last_only` the queries, attention output and
        # feed-forward run for the last slot only: a final block whose other
        # rows nobody reads then costs 2 projections per row instead of 4
        # plus the feed-forward.
        residual = inputs
        if self.norm_first:  # pre-LN: attention and FFN read normalized inputs
            inputs = self.attention_layer_norm(inputs)
        if output_last_only:
            residual = residual[:, -1:, :]
            if attention_mask is not None:
                attention_mask = attention_mask[:, -1:, :]
        query = self.query_dense(inputs[:, -1:, :] if output_last_only else inputs)  # [B, T', H, dh]
        # Keys and values live in the cache as chunks in attention layout
        # [B, H, S_c, dh]: the item chunk from the full pass plus one small
        # chunk per later call. A reasoning step attends to every chunk
        # without concatenating (copying) or transposing the item cache, so
        # it costs one row of work, not a pass over the whole prefix.
        key = ops.transpose(self.key_dense(inputs), (0, 2, 1, 3))
        value = ops.transpose(self.value_dense(inputs), (0, 2, 1, 3))
        if cache is None:
            key_chunks, value_chunks = (key,), (value,)
        else:
            cached_keys, cached_values = _as_chunks(cache)
            key_chunks = tuple(cached_keys) + (key,)
            value_chunks = tuple(cached_values) + (value,)

        # Scores in float32: [B, H, T, S + T].
        query_t = ops.cast(ops.transpose(query, (0, 2, 1, 3)), "float32")
        scores = [_chunk_scores(query_t, ops.cast(k, "float32")) for k in key_chunks]
        scores = scores[0] if len(scores) == 1 else ops.concatenate(scores, axis=-1)
        scores = scores * (1.0 / math.sqrt(self.head_dim))
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            if len(attention_mask.shape) != 3:
                raise ValueError(
                    "`attention_mask` must have shape [batch, T, S + T]. "
                    f"Received shape {tuple(attention_mask.shape)}"
                )
            bias = ops.where(
                attention_mask,
                ops.zeros((), "float32"),
                ops.full((), _MASK_LOGIT, "float32"),
            )
            scores = scores + ops.expand_dims(bias, 1)
        probs = ops.softmax(scores, axis=-1)
        probs = ops.cast(probs, self.compute_dtype)
        probs = self.attention_probs_dropout(probs, training=training)
        sizes = [v.shape[2] for v in value_chunks]
        if len(value_chunks) == 1:
            context = _chunk_context(probs, value_chunks[0])
        elif all(size is not None for size in sizes):
            context = None
            for part_probs, v in zip(_split_last(probs, sizes), value_chunks):
                part = _chunk_context(part_probs, v)
                context = part if context is None else context + part
        else:  # Unknown chunk lengths: fall back to one concatenated value.
            context = _chunk_context(probs, ops.concatenate(list(value_chunks), axis=2))
        context = ops.transpose(context, (0, 2, 1, 3))  # [B, T, H, dh]

        attention_output = self.output_dense(context)
        attention_output = self.attention_output_dropout(
            attention_output, training=training
        )
        if self.norm_first:
            hidden = residual + attention_output
            ffn_inputs = self.ffn_layer_norm(hidden)
        else:
            hidden = ffn_inputs = self.attention_layer_norm(residual + attention_output)

        ffn = self.intermediate_dense(ffn_inputs)
        ffn = self._activation_fn(ffn)
        ffn = self.ffn_output_dense(ffn)
        ffn = self.ffn_dropout(ffn, training=training)
        outputs = hidden + ffn if self.norm_first else self.ffn_layer_norm(hidden + ffn)
        return outputs, (key_chunks, value_chunks)

    def get_config(self):
        config = super().get_config()
        activation = self.activation
        if not isinstance(activation, str):
            activation = keras.activations.serialize(activation)
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "activation": activation,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        if self.norm_first:  # only when set: older files load unchanged
            config["norm_first"] = True
        return config


def _as_chunks(cache):
    keys, values = cache
    if isinstance(keys, (tuple, list)):
        return tuple(keys), tuple(values)
    # A single tensor pair in the merged layout [B, S, H, dh].
    return (ops.transpose(keys, (0, 2, 1, 3)),), (ops.transpose(values, (0, 2, 1, 3)),)


def merge_cache(cache):
    """The cache of a `TransformerBlock` as one `(keys, values)` pair.

    The block keeps its cache as chunks in attention layout `[B, H, S_c,
    dh]` (so a reasoning step never copies the item cache); this returns
    them concatenated in the `[B, S, H, dh]` layout, e.g. for inspection.
    A block also accepts such a merged pair as `cache=`.
    """
    keys, values = _as_chunks(cache)
    merge = lambda chunks: ops.transpose(ops.concatenate(list(chunks), axis=2), (0, 2, 1, 3))
    return merge(keys), merge(values)
