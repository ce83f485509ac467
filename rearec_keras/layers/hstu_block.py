"""One HSTU layer (Hierarchical Sequential Transduction Unit) with a KV cache."""

import math

import keras
from keras import ops

from rearec_keras.layers.relative_attention_bias import RelativeAttentionBias
from rearec_keras.layers.transformer_block import _as_chunks
from rearec_keras.layers.transformer_block import _clone_initializer
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate


@keras.saving.register_keras_serializable(package="rearec_keras")
class HSTUBlock(keras.layers.Layer):
    """An HSTU layer: pointwise aggregated, gated attention (no softmax).

    ```
    U, V, Q, K = split(SiLU(f1(LN(x))))                  # H heads each
    A          = SiLU(Q Kᵀ + rab^{p,t}) / n  ⊙ mask       # per head
    y          = x + f2(Dropout(LN(A V) ⊙ U))
    ```

    `f1` has no bias (N(0, 0.02) init), `f2` has one (Glorot-uniform init),
    both LayerNorms have no learned scale or offset, and `rab` is a
    `RelativeAttentionBias` (learned per relative distance, plus a bucketed
    log time gap when timestamps are given). `n` is a constant, `max_length`
    (the released code divides by the padded sequence length), so a row's
    output does not depend on how much padding or how many later slots a
    batch carries, and incremental decoding with the cache gives exactly the
    rows of a full pass: keys and values of the new slots are appended to
    `cache`, the new rows are the queries, and the query of slot `S + t`
    gets the bias of its own distances.

    Scores and the attention weights are computed in float32 (mixed
    precision safe). `attention_dropout` drops attention weights (the
    released code's relative-bias path has no such dropout: pass 0 to match
    it).

    Args:
        hidden_dim: int >= 1. Model width `d`; must be divisible by `num_heads`.
        num_heads: int >= 1. Heads; each has `d / num_heads` query/key and
            value dimensions.
        max_length: int >= 1. `n`: the slots the attention holds (normaliser
            and span of the relative position bias).
        dropout: float in [0, 1). Dropout before `f2` (released: 0.2).
        attention_dropout: float in [0, 1). Dropout of the attention weights.
        time_buckets: int >= 0. Buckets of the relative time bias (0: none;
            released code: 128).
        scaled_scores: bool. Divide `Q Kᵀ` by `sqrt(d / num_heads)` before
            the bias. The paper (Eq. 2) and the released code do not (False).
        layer_norm_epsilon: float > 0. Epsilon of both LayerNorms (1e-6).
        kernel_initializer: initializer of `f1`. Defaults to
            `RandomNormal(stddev=0.02)`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `[batch, T, hidden_dim]`: the new slots.
        attention_mask: optional bool tensor `[batch, T, S + T]` (`True` =
            the query may attend to the key); `S` is the cache length.
        cache: optional `(keys, values)` of the `S` earlier slots as returned
            by a previous call (tuples of chunks `[batch, H, S_c, d / H]`).
        training: bool. Whether dropout is active.
        output_last_only: bool. Compute the output of the last new slot only
            (keys and values still cover all `T` slots).
        timestamps: optional numeric tensor `[batch, S + T]`: the timestamp
            of every slot, cached ones first (needs `time_buckets > 0`).

    Returns:
        `(outputs, (keys, values))`: `outputs` `[batch, T, hidden_dim]`
        (`[batch, 1, hidden_dim]` with `output_last_only`) and the cache with
        one chunk for the new slots appended.

    Example:

    ```python
    block = HSTUBlock(hidden_dim=64, num_heads=2, max_length=50)
    mask = item_attention_mask(histories != 0, "causal")
    y, cache = block(x, attention_mask=mask)                      # [B, 50, 64]
    new, cache = block(token, attention_mask=step_mask, cache=cache)  # [B, 1, 64]
    ```

    Reference:
        - [Zhai et al., 2024](https://arxiv.org/abs/2402.17152), §3.1,
          Eqs. 1-3; released code `SequentialTransductionUnitJagged`.
    """

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        max_length: int,
        dropout: float = 0.2,
        attention_dropout: float = 0.0,
        time_buckets: int = 0,
        scaled_scores: bool = False,
        layer_norm_epsilon: float = 1e-6,
        kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, 1)
        self.num_heads = check_int("num_heads", num_heads, 1)
        if hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        self.head_dim = hidden_dim // num_heads
        self.max_length = check_int("max_length", max_length, 1)
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = check_rate("attention_dropout", attention_dropout)
        self.time_buckets = check_int("time_buckets", time_buckets, 0)
        self.scaled_scores = bool(scaled_scores)
        self.layer_norm_epsilon = check_float("layer_norm_epsilon", layer_norm_epsilon, 0.0,
                                              exclusive_minimum=True)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, inputs_shape):
        if inputs_shape[-1] is not None and inputs_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expects inputs with last dimension "
                f"hidden_dim={self.hidden_dim}. Received input shape {tuple(inputs_shape)}"
            )
        shape = (None, None, self.hidden_dim)
        self.input_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, center=False, scale=False,
            dtype=self.dtype_policy, name="input_norm")
        self.input_norm.build(shape)
        self.uvqk = keras.layers.Dense(
            4 * self.hidden_dim, use_bias=False,
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy, name="uvqk")
        self.uvqk.build(shape)
        self.attention_bias = RelativeAttentionBias(
            self.max_length, self.time_buckets, dtype=self.dtype_policy,
            name="relative_attention_bias")
        self.attention_bias.build()
        self.attention_weights_dropout = keras.layers.Dropout(
            self.attention_dropout, dtype=self.dtype_policy, name="attention_dropout")
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, center=False, scale=False,
            dtype=self.dtype_policy, name="attention_norm")
        self.attention_norm.build(shape)
        self.output_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            self.hidden_dim, kernel_initializer="glorot_uniform", bias_initializer="zeros",
            dtype=self.dtype_policy, name="output")
        self.output_dense.build(shape)
        self.built = True

    def _heads(self, x):
        """`[B, T, d]` -> `[B, H, T, d / H]`."""
        x = ops.reshape(x, (-1, ops.shape(x)[1], self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, inputs, attention_mask=None, cache=None, training=None,
             output_last_only=False, timestamps=None):
        uvqk = ops.silu(self.uvqk(self.input_norm(inputs)))
        d = self.hidden_dim  # static slices (torch.compile rejects tensor split points)
        u, v, q, k = (uvqk[..., i * d:(i + 1) * d] for i in range(4))
        residual = inputs
        if output_last_only:  # the other rows still give keys and values
            residual, u, q = residual[:, -1:], u[:, -1:], q[:, -1:]
            if attention_mask is not None:
                attention_mask = attention_mask[:, -1:]
        key, value = self._heads(k), self._heads(v)
        if cache is None:
            key_chunks, value_chunks = (key,), (value,)
        else:
            cached_keys, cached_values = _as_chunks(cache)
            key_chunks, value_chunks = cached_keys + (key,), cached_values + (value,)

        # Scores in float32: [B, H, T', S + T].
        query = ops.cast(self._heads(q), "float32")
        scores = ops.concatenate(
            [ops.einsum("bhtk,bhsk->bhts", query, ops.cast(c, "float32")) for c in key_chunks],
            axis=-1)
        if self.scaled_scores:
            scores = scores * (1.0 / math.sqrt(self.head_dim))
        num_keys = ops.shape(scores)[-1]
        key_positions = ops.arange(num_keys, dtype="int32")
        query_positions = key_positions[num_keys - ops.shape(query)[2]:]
        query_timestamps = None
        if timestamps is not None:
            query_timestamps = timestamps[:, num_keys - ops.shape(query)[2]:]
        bias = self.attention_bias(query_positions, key_positions, query_timestamps,
                                   timestamps)
        weights = ops.silu(scores + ops.expand_dims(bias, 1)) / float(self.max_length)
        if attention_mask is not None:
            if len(attention_mask.shape) != 3:
                raise ValueError("`attention_mask` must have shape [batch, T, S + T]. "
                                 f"Received shape {tuple(attention_mask.shape)}")
            weights = weights * ops.expand_dims(ops.cast(attention_mask, "float32"), 1)
        weights = self.attention_weights_dropout(
            ops.cast(weights, self.compute_dtype), training=training)
        sizes = [chunk.shape[2] for chunk in value_chunks]
        if len(value_chunks) == 1 or any(size is None for size in sizes):
            values = value_chunks[0] if len(value_chunks) == 1 else ops.concatenate(
                list(value_chunks), axis=2)
            context = ops.einsum("bhts,bhsk->bhtk", weights, values)
        else:  # one product per chunk: the cached prefix is never copied
            context, start = None, 0
            for size, chunk in zip(sizes, value_chunks):
                part = ops.einsum("bhts,bhsk->bhtk", weights[..., start:start + size], chunk)
                start += size
                context = part if context is None else context + part
        context = ops.transpose(context, (0, 2, 1, 3))
        context = ops.reshape(context, (-1, ops.shape(context)[1], self.hidden_dim))
        gated = self.attention_norm(context) * u
        outputs = residual + self.output_dense(self.output_dropout(gated, training=training))
        return outputs, (key_chunks, value_chunks)

    def get_config(self):
        config = super().get_config()
        config.update({
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "max_length": self.max_length,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "time_buckets": self.time_buckets,
            "scaled_scores": self.scaled_scores,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
