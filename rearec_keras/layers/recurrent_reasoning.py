"""ReaRec's multi-step latent reasoning loop over a cached encoder."""

import inspect
import numbers

import keras
from keras import ops

from rearec_keras.layers.masks import ITEM_ATTENTION_MODES
from rearec_keras.layers.masks import item_attention_mask
from rearec_keras.layers.masks import reasoning_step_mask
from rearec_keras.layers.reasoning_position_embedding import (
    ReasoningPositionEmbedding,
)
from rearec_keras.layers.reasoner import Reasoner
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate

from rearec_keras.utils.choices import TWIN_INPUT_MODES  # noqa: E402


def _accepts(layer, argument):
    """Whether `layer.call` takes a parameter named `argument`."""
    try:
        return argument in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


def has_cache_interface(encoder):
    """Whether `encoder` is a Keras layer whose `call` takes the cache API.

    The cache interface is `encoder(inputs, attention_mask=..., cache=...,
    training=...) -> (outputs, new_cache)`; see `TransformerEncoder`.
    """
    return (
        isinstance(encoder, keras.layers.Layer)
        and _accepts(encoder, "attention_mask")
        and _accepts(encoder, "cache")
    )


@keras.saving.register_keras_serializable(package="rearec_keras")
class RecurrentReasoning(Reasoner):
    """Implicit multi-step reasoning (ReaRec) on top of a cached encoder.

    Step 0 runs the encoder over the `L` item slots and reads
    `r_0 = output[:, -1]` (the newest item: histories are left-padded). Each
    reasoning step `s = 1..steps` feeds the previous output back as one new
    token `r_{s-1} + P^R[s-1]` and reads its output `r_s`. The encoder's KV
    cache is reused, so a reasoning step computes exactly one new row per
    sequence (in training and inference; gradients flow through the cache).
    Reasoning slots see every real item, every earlier reasoning slot and
    themselves; item slots never see reasoning slots, so `r_0` does not
    depend on the number of steps.

    As in the official code, the encoder input of every step (the items and
    each reasoning token) is normalised as `Dropout(LayerNorm_in(x))`
    (`input_layer_norm=False, input_dropout=0` gives the paper's plain
    version).

    **Noisy twin (PRL).** With `noise_std > 0` the batch is duplicated
    `[clean; twin]` before step 0, so the twin also gets independent dropout
    masks at every step, and keeps its own KV cache rows. At step `s >= 1`
    the twin's input is `r_{s-1} + P^R[s-1] + eps`, `eps ~ N(0, noise_std^2)`
    added before `LayerNorm_in`, where `r_{s-1}` is the *clean* previous
    output (`twin_inputs="clean"`, official code) or the twin's own previous
    output (`twin_inputs="noisy"`, closer to the paper's text). The twin's
    `r~_0` has no noise (dropout only). The layer adds noise whenever
    `noise_std > 0`; the model decides when (training, after warm-up).

    Args:
        encoder: a Keras layer with the cache interface
            `encoder(inputs, attention_mask=, cache=, training=) ->
            (outputs, new_cache)`, e.g. `TransformerEncoder`. Owned (and
            serialized) by this layer.
        reasoning_steps: int >= 0. Maximum number of extra reasoning steps
            `K` (official default 2). `K=0` is the plain backbone.
        hidden_dim: int >= 1. Hidden size `d`.
        use_reasoning_position: bool. Add the reasoning position embedding
            `P^R` (`[K, d]`, created only when `K > 0`). `False` is the paper's
            "Naive" ablation.
        input_layer_norm: bool. Apply the input LayerNorm at every step
            (official code: `True`).
        input_dropout: float in [0, 1). Dropout after the input LayerNorm at
            every step (official code: 0.2).
        layer_norm_epsilon: float > 0. Epsilon of the input LayerNorm (1e-12).
        reasoning_position_initializer: initializer of `P^R`. Defaults to
            `RandomNormal(stddev=0.02)`.
        seed: optional int, seed of the twin noise.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`.

    Call arguments:
        item_inputs: float tensor `[batch, L, d]`: item embedding + item
            position embedding (built by the model).
        padding_mask: bool tensor `[batch, L]`, `True` for a real item
            (left-padded: the last column must be real).
        mode: `"causal"` (SASRec) or `"bidirectional"` (BERT4Rec prefix
            mask) attention among the item slots.
        steps: optional Python int in `[0, reasoning_steps]`; `None` uses all
            `reasoning_steps`. Lowering it at inference returns a prefix of the
            full-`K` states.
        noise_std: Python float >= 0. Standard deviation of the twin noise;
            `0` disables the twin (no duplication, no `"noisy_states"`).
        twin_inputs: `"clean"` or `"noisy"`, see above.
        timestamps: optional numeric tensor `[batch, L]`, the items'
            timestamps, passed to the item pass of an encoder whose `call`
            takes `timestamps` (`HSTUEncoder`'s time bias); the encoder keeps
            them in its cache for the reasoning steps.
        return_reasoning_inputs: bool, debug hook. If `True`, the result also
            holds `"reasoning_inputs"` `[batch, steps, d]`: the pre-LayerNorm
            input of reasoning step `s` in row `s - 1`
            (`r_{s-1} + P^R[s-1]`), and, with the twin on,
            `"twin_reasoning_inputs"` `[batch, steps, d]`: the twin's
            pre-LayerNorm inputs (noise included).
        training: bool. Whether dropout is active.

    Returns:
        A dict with `"states"`: `[batch, steps + 1, d]`, the reasoning
        outputs `[r_0, ..., r_steps]`; with `noise_std > 0` also
        `"noisy_states"` `[batch, steps + 1, d]` (the twin's outputs); plus
        the debug entries above when requested.

    Example:

    ```python
    encoder = TransformerEncoder(
        num_layers=2, hidden_dim=64, num_heads=2, intermediate_dim=128
    )
    reasoning = RecurrentReasoning(encoder, reasoning_steps=2, hidden_dim=64)
    out = reasoning(item_vectors, histories != 0)  # {"states": [B, 3, 64]}
    r_K = out["states"][:, -1]
    ```

    Reference:
        - [Tang et al., 2025](https://arxiv.org/abs/2503.22675), §3.1.2,
          Eq. 4; official code `ReaRecAutoRegressiveWrapper`.
    """

    def __init__(
        self,
        encoder,
        reasoning_steps: int,
        hidden_dim: int,
        use_reasoning_position: bool = True,
        input_layer_norm: bool = True,
        input_dropout: float = 0.2,
        layer_norm_epsilon: float = 1e-12,
        reasoning_position_initializer=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not has_cache_interface(encoder):
            raise TypeError(
                "`encoder` must be a keras.layers.Layer with the cache "
                "interface `call(inputs, attention_mask=None, cache=None, "
                "training=None) -> (outputs, new_cache)` (e.g. "
                f"TransformerEncoder). Received: {encoder!r}"
            )
        check_int("reasoning_steps", reasoning_steps, 0)
        check_int("hidden_dim", hidden_dim, 1)
        check_rate("input_dropout", input_dropout)
        check_float("layer_norm_epsilon", layer_norm_epsilon, 0.0, exclusive_minimum=True)
        self.encoder = encoder
        self._encoder_last_only = _accepts(encoder, "output_last_only")
        self._encoder_timestamps = _accepts(encoder, "timestamps")
        self.reasoning_steps = reasoning_steps
        self.hidden_dim = hidden_dim
        self.use_reasoning_position = bool(use_reasoning_position)
        self.input_layer_norm = bool(input_layer_norm)
        self.input_dropout = float(input_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        if reasoning_position_initializer is None:
            reasoning_position_initializer = keras.initializers.RandomNormal(
                stddev=0.02
            )
        self.reasoning_position_initializer = keras.initializers.get(
            reasoning_position_initializer
        )
        self.seed = seed

        if reasoning_steps > 0 and self.use_reasoning_position:
            self.reasoning_position_embedding = ReasoningPositionEmbedding(
                reasoning_steps=reasoning_steps,
                hidden_dim=hidden_dim,
                initializer=self.reasoning_position_initializer,
                dtype=self.dtype_policy,
                name="reasoning_position_embedding",
            )
        else:
            self.reasoning_position_embedding = None
        if self.input_layer_norm:
            self.input_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon,
                dtype=self.dtype_policy,
                name="input_layer_norm",
            )
        else:
            self.input_norm = None
        self.input_dropout_layer = keras.layers.Dropout(
            self.input_dropout, dtype=self.dtype_policy, name="input_dropout"
        )
        self.noise_seed_generator = keras.random.SeedGenerator(seed)

    def build(self, item_inputs_shape):
        if (
            item_inputs_shape[-1] is not None
            and item_inputs_shape[-1] != self.hidden_dim
        ):
            raise ValueError(
                f"`item_inputs` must have last dimension hidden_dim="
                f"{self.hidden_dim}. Received shape {tuple(item_inputs_shape)}"
            )
        shape = (None, None, self.hidden_dim)
        if not self.encoder.built:
            self.encoder.build(shape)
        if self.input_norm is not None:
            self.input_norm.build(shape)
        if self.reasoning_position_embedding is not None:
            self.reasoning_position_embedding.build((None, self.hidden_dim))
        self.built = True

    # ------------------------------------------------------------------ #
    def _normalize(self, x, training):
        if self.input_norm is not None:
            x = self.input_norm(x)
        return self.input_dropout_layer(x, training=training)

    def _add_position(self, state, step):
        """`state + P^R[step]` (0-based row), or `state` without `P^R`."""
        if self.reasoning_position_embedding is None:
            return state
        return self.reasoning_position_embedding(state, step=step)

    def _resolve_steps(self, steps):
        if steps is None:
            return self.reasoning_steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
            raise ValueError(
                f"`steps` must be a Python int in [0, reasoning_steps="
                f"{self.reasoning_steps}] or None. Received: steps={steps!r}"
            )
        if not 0 <= steps <= self.reasoning_steps:
            raise ValueError(
                f"`steps` must be in [0, reasoning_steps] = [0, "
                f"{self.reasoning_steps}]. Received: steps={steps} with "
                f"reasoning_steps={self.reasoning_steps}"
            )
        return int(steps)

    def call(
        self,
        item_inputs,
        padding_mask,
        mode="causal",
        steps=None,
        noise_std=0.0,
        twin_inputs="clean",
        return_reasoning_inputs=False,
        training=None,
        timestamps=None,
    ):
        steps = self._resolve_steps(steps)
        if mode not in ITEM_ATTENTION_MODES:
            raise ValueError(
                f"`mode` must be one of {ITEM_ATTENTION_MODES}. Received: "
                f"mode={mode!r}"
            )
        check_float("noise_std", noise_std, 0.0)
        if twin_inputs not in TWIN_INPUT_MODES:
            raise ValueError(
                f"`twin_inputs` must be one of {TWIN_INPUT_MODES}. Received: "
                f"twin_inputs={twin_inputs!r}"
            )
        noise_std = float(noise_std)
        twin = noise_std > 0
        padding_mask = ops.cast(padding_mask, "bool")
        if timestamps is not None and not self._encoder_timestamps:
            raise ValueError(f"timestamps were given but the encoder "
                             f"({type(self.encoder).__name__}) does not use them")
        if twin:
            item_inputs = ops.concatenate([item_inputs, item_inputs], axis=0)
            padding_mask = ops.concatenate([padding_mask, padding_mask], axis=0)
            if timestamps is not None:
                timestamps = ops.concatenate([timestamps, timestamps], axis=0)

        # Step 0: full pass over the L item slots. Only the newest slot's
        # output is read, so encoders that can skip the other rows of their
        # last block do.
        extra = {"output_last_only": True} if self._encoder_last_only else {}
        if timestamps is not None:
            extra["timestamps"] = timestamps
        outputs, cache = self.encoder(
            self._normalize(item_inputs, training),
            attention_mask=item_attention_mask(padding_mask, mode),
            cache=None,
            training=training,
            **extra,
        )
        state = outputs[:, -1, :]
        states = [state]
        reasoning_inputs = []

        # Steps 1..steps: one new slot each, over the cached prefix.
        for s in range(1, steps + 1):
            if twin:
                clean_state, twin_state = ops.split(state, 2, axis=0)
                clean_input = self._add_position(clean_state, s - 1)
                base = clean_state if twin_inputs == "clean" else twin_state
                noise = keras.random.normal(
                    ops.shape(base),
                    stddev=noise_std,
                    dtype="float32",
                    seed=self.noise_seed_generator,
                )
                twin_input = self._add_position(base, s - 1) + ops.cast(
                    noise, base.dtype
                )
                step_input = ops.concatenate([clean_input, twin_input], axis=0)
            else:
                step_input = self._add_position(state, s - 1)
            reasoning_inputs.append(step_input)
            outputs, cache = self.encoder(
                self._normalize(ops.expand_dims(step_input, 1), training),
                attention_mask=reasoning_step_mask(padding_mask, s),
                cache=cache,
                training=training,
            )
            state = outputs[:, -1, :]
            states.append(state)

        all_states = ops.stack(states, axis=1)  # [B or 2B, steps + 1, d]
        if reasoning_inputs:
            all_inputs = ops.stack(reasoning_inputs, axis=1)
        else:
            all_inputs = item_inputs[:, :0, :]
        result = {}
        if twin:
            clean, noisy = ops.split(all_states, 2, axis=0)
            result["states"] = clean
            result["noisy_states"] = noisy
            if return_reasoning_inputs:
                clean_in, twin_in = ops.split(all_inputs, 2, axis=0)
                result["reasoning_inputs"] = clean_in
                result["twin_reasoning_inputs"] = twin_in
        else:
            result["states"] = all_states
            if return_reasoning_inputs:
                result["reasoning_inputs"] = all_inputs
        return result

    def halting_call(self, item_inputs, padding_mask, halt, mode="causal", steps=None):
        """Evaluation-mode reasoning in which each row stops on its own.

        After step `t` (1 <= t < steps) `halt(t, previous, state, memo)`
        gets the previous and new states `[b, d]` of the rows still running
        (and the `memo` it returned for them last time, None at t = 1) and
        returns `(stop [b] bool, memo [b, ...])`. Stopped rows leave the
        batch: their slice of the KV cache is dropped, so they cost nothing
        more, and the loop ends when no row is left (or after `steps`).
        Rows never interact, so a row's result is the same in any batch.
        Eagerly the batch shrinks step by step; in a TensorFlow graph (the
        SavedModel export) its batch dimension is dynamic and shrinks the
        same way.

        Returns:
            `(states, halt_steps)` tensors: `[B, steps + 1, d]` float32
            (zeros after a row's halting step) and `[B]` int32 in
            `1..steps` (0 when `steps` is 0).
        """
        from rearec_keras.halting import HaltingRows

        steps = self._resolve_steps(steps)
        if mode not in ITEM_ATTENTION_MODES:
            raise ValueError(f"`mode` must be one of {ITEM_ATTENTION_MODES}. Received: "
                             f"mode={mode!r}")
        padding_mask = ops.cast(padding_mask, "bool")
        extra = {"output_last_only": True} if self._encoder_last_only else {}
        outputs, cache = self.encoder(
            self._normalize(item_inputs, False),
            attention_mask=item_attention_mask(padding_mask, mode),
            cache=None, training=False, **extra,
        )
        state = outputs[:, -1, :]
        rows = HaltingRows(state, steps)
        memo = None
        for s in range(1, steps + 1):
            if rows.done:
                break
            outputs, cache = self.encoder(
                self._normalize(ops.expand_dims(self._add_position(state, s - 1), 1), False),
                attention_mask=reasoning_step_mask(padding_mask, s),
                cache=cache, training=False,
            )
            previous, state = state, outputs[:, -1, :]
            rows.record(state)
            if s == steps:
                break
            stop, memo = halt(s, previous, state, memo)
            (cache, padding_mask, state), memo = rows.drop(
                stop, s, (cache, padding_mask, state), memo)
        return rows.result()

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.layers.serialize(self.encoder),
                "reasoning_steps": self.reasoning_steps,
                "hidden_dim": self.hidden_dim,
                "use_reasoning_position": self.use_reasoning_position,
                "input_layer_norm": self.input_layer_norm,
                "input_dropout": self.input_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "reasoning_position_initializer": keras.initializers.serialize(
                    self.reasoning_position_initializer
                ),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.layers.deserialize(config["encoder"])
        return cls(**config)
