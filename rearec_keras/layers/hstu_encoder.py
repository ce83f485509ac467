"""A stack of `HSTUBlock`s exposing the KV-cache interface."""

import keras
from keras import ops

from rearec_keras.layers.hstu_block import HSTUBlock
from rearec_keras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="rearec_keras")
class HSTUEncoder(keras.layers.Layer):
    """HSTU layers with incremental decoding (the encoder of `ReaHSTU`).

    Implements the cache interface of `RecurrentReasoning` (see
    `TransformerEncoder`): `encoder(inputs, attention_mask=, cache=,
    training=) -> (outputs, cache)`. The blocks are pre-norm residual
    layers (`x + f(x)`), so a final LayerNorm gives the output its scale (the
    released code L2-normalises the output instead; here it is scored by a
    dot product with the item table at temperature τ).

    **Timestamps.** With `time_buckets > 0`, `timestamps` `[batch, T]` of
    the first call's slots (the item pass) add the relative time bias; the
    cache keeps them. Slots appended later without timestamps (ReaRec's
    reasoning tokens) take the newest cached one: reasoning happens at the
    time of the last action. Without timestamps only the position bias is
    used.

    Args:
        num_layers: int >= 1. HSTU layers.
        hidden_dim: int >= 1. Model width `d`.
        num_heads: int >= 1. Heads; must divide `hidden_dim`.
        max_length: int >= 1. `n`, the slots the attention holds: the
            attention normaliser and the span of the position bias (a model
            uses its history length plus the reasoning steps).
        dropout / attention_dropout / time_buckets / scaled_scores /
            layer_norm_epsilon / kernel_initializer: see `HSTUBlock`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `[batch, T, hidden_dim]`.
        attention_mask: optional bool tensor `[batch, T, S + T]`.
        cache: None, or what the previous call returned: a dict with
            `"blocks"` (one `(keys, values)` per layer) and, once timestamps
            were given, `"timestamps"` `[batch, S]`.
        training: bool. Whether dropout is active.
        output_last_only: bool. Only the last new slot's output (the last
            layer computes one row; the cache is the same).
        timestamps: optional numeric tensor `[batch, T]`, the new slots'
            timestamps (seconds or any unit; gaps are bucketed on a log scale).

    Returns:
        `(outputs, cache)`: `outputs` `[batch, T, hidden_dim]` (or
        `[batch, 1, hidden_dim]`) and the cache described above.

    Example:

    ```python
    encoder = HSTUEncoder(num_layers=2, hidden_dim=64, num_heads=2, max_length=52)
    outputs, cache = encoder(x, attention_mask=item_attention_mask(histories != 0))
    ```

    Reference:
        - [Zhai et al., 2024](https://arxiv.org/abs/2402.17152); released
          code `HSTUJagged`.
    """

    def __init__(
        self,
        num_layers: int,
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
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.blocks = [
            HSTUBlock(
                hidden_dim, num_heads, max_length, dropout=dropout,
                attention_dropout=attention_dropout, time_buckets=time_buckets,
                scaled_scores=scaled_scores, layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=kernel_initializer, dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        first = self.blocks[0]  # the checked values
        self.hidden_dim = first.hidden_dim
        self.num_heads = first.num_heads
        self.max_length = first.max_length
        self.dropout = first.dropout
        self.attention_dropout = first.attention_dropout
        self.time_buckets = first.time_buckets
        self.scaled_scores = first.scaled_scores
        self.layer_norm_epsilon = first.layer_norm_epsilon
        self.kernel_initializer = first.kernel_initializer
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="output_norm")

    def build(self, inputs_shape):
        for block in self.blocks:
            if not block.built:
                block.build(inputs_shape)
        self.output_norm.build((None, None, self.hidden_dim))
        self.built = True

    def _slot_timestamps(self, inputs, cache, timestamps):
        """The timestamps of every slot `[batch, S + T]`, or None."""
        cached = None if cache is None else cache.get("timestamps")
        if timestamps is not None and self.time_buckets == 0:
            raise ValueError(
                "timestamps were given but this HSTU has no time bias (time_buckets=0); "
                "build it with time_buckets > 0 (the released code uses 128)."
            )
        if cached is None:
            if timestamps is not None and cache is not None:
                raise ValueError(
                    "timestamps of new slots need the earlier slots' timestamps: give "
                    "`timestamps` in the first call (the one that fills the cache)"
                )
            return timestamps
        if timestamps is None:  # appended slots: the time of the newest cached slot
            timestamps = ops.repeat(cached[:, -1:], ops.shape(inputs)[1], axis=1)
        return ops.concatenate([cached, ops.cast(timestamps, cached.dtype)], axis=1)

    def call(self, inputs, attention_mask=None, cache=None, training=None,
             output_last_only=False, timestamps=None):
        if cache is not None and (not isinstance(cache, dict)
                                  or len(cache.get("blocks", ())) != self.num_layers):
            raise ValueError(
                f"`cache` must be what a previous call returned: a dict with one (keys, "
                f"values) pair per layer ({self.num_layers}) under 'blocks'."
            )
        slot_timestamps = self._slot_timestamps(inputs, cache, timestamps)
        x = inputs
        blocks = []
        for i, block in enumerate(self.blocks):
            x, block_cache = block(
                x, attention_mask=attention_mask,
                cache=None if cache is None else cache["blocks"][i], training=training,
                output_last_only=output_last_only and i == self.num_layers - 1,
                timestamps=slot_timestamps,
            )
            blocks.append(block_cache)
        new_cache = {"blocks": blocks}
        if slot_timestamps is not None:
            new_cache["timestamps"] = slot_timestamps
        return self.output_norm(x), new_cache

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_layers": self.num_layers,
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
