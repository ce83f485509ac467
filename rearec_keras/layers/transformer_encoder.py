"""A stack of `TransformerBlock`s exposing the KV-cache interface."""

import keras

from rearec_keras.layers.transformer_block import TransformerBlock
from rearec_keras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="rearec_keras")
class TransformerEncoder(keras.layers.Layer):
    """Stack of post-LN `TransformerBlock`s with incremental decoding.

    This is the reference implementation of the *cache interface* that
    `RecurrentReasoning` requires from its encoder:

    ```
    outputs, new_cache = encoder(
        inputs, attention_mask=mask, cache=cache, training=training
    )
    ```

    where `cache` is `None` for the first call and afterwards whatever the
    previous call returned (treated as opaque by the caller). Here it is a
    list with one `(keys, values)` tuple per block, each
    `[batch, S, num_heads, hidden_dim // num_heads]`.

    Args:
        num_layers: int >= 1. Number of blocks (official code: 2).
        hidden_dim: int >= 1. Model width `d`.
        num_heads: int >= 1. Attention heads; must divide `hidden_dim`.
        intermediate_dim: int >= 1. Feed-forward inner size.
        dropout: float in [0, 1). Hidden dropout of every block (0.5).
        attention_dropout: float in [0, 1). Attention-probability dropout (0.5).
        layer_norm_epsilon: float > 0. LayerNorm epsilon (1e-12).
        activation: feed-forward activation; `"gelu"` is the exact erf GeLU.
        kernel_initializer: kernel initializer of every block. Defaults to
            `RandomNormal(stddev=0.02)`.
        bias_initializer: bias initializer of every block (`"zeros"`).
        norm_first: pre-LN blocks (see `TransformerBlock`); default post-LN.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `[batch, T, hidden_dim]`.
        attention_mask: optional bool tensor `[batch, T, S + T]` shared by all
            blocks (`True` = may attend).
        cache: optional list of `num_layers` tuples `(keys, values)`, each
            `[batch, S, num_heads, head_dim]`.
        training: bool. Whether dropout is active.
        output_last_only: bool. Return only the last slot's output
            `[batch, 1, hidden_dim]`. The last block then computes queries,
            attention output and feed-forward for that slot alone (its keys
            and values still cover every slot, so the cache is unchanged);
            with 2 blocks this skips about 40 % of a full pass. Optional for
            third-party encoders: `RecurrentReasoning` passes it only to
            encoders whose `call` accepts it.

    Returns:
        A tuple `(outputs, caches)`: `outputs` is `[batch, T, hidden_dim]`
        (the last block's output) and `caches` is the list of the blocks'
        `(keys, values)`, each `[batch, S + T, num_heads, head_dim]`.

    Example:

    ```python
    encoder = TransformerEncoder(
        num_layers=2, hidden_dim=64, num_heads=2, intermediate_dim=128
    )
    mask = item_attention_mask(histories != 0, "causal")
    outputs, cache = encoder(item_vectors, attention_mask=mask)
    ```
    """

    def __init__(
        self,
        num_layers: int,
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
        check_int("num_layers", num_layers, 1)
        self.norm_first = bool(norm_first)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.blocks = [
            TransformerBlock(
                hidden_dim=hidden_dim,
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                attention_dropout=attention_dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                activation=activation,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                norm_first=self.norm_first,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        # Validated by the first block; keep the stored values consistent.
        self.dropout = self.blocks[0].dropout
        self.attention_dropout = self.blocks[0].attention_dropout
        self.layer_norm_epsilon = self.blocks[0].layer_norm_epsilon
        self.activation = self.blocks[0].activation

    def build(self, inputs_shape):
        for block in self.blocks:
            if not block.built:
                block.build(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        attention_mask=None,
        cache=None,
        training=None,
        output_last_only=False,
    ):
        if cache is not None and len(cache) != self.num_layers:
            raise ValueError(
                f"`cache` must hold one (keys, values) pair per block "
                f"({self.num_layers}). Received {len(cache)} entries."
            )
        x = inputs
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(
                x,
                attention_mask=attention_mask,
                cache=None if cache is None else cache[i],
                training=training,
                output_last_only=output_last_only and i == self.num_layers - 1,
            )
            new_cache.append(layer_cache)
        return x, new_cache

    def get_config(self):
        config = super().get_config()
        activation = self.activation
        if not isinstance(activation, str):
            activation = keras.activations.serialize(activation)
        config.update(
            {
                "num_layers": self.num_layers,
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
        if self.norm_first:
            config["norm_first"] = True
        return config
