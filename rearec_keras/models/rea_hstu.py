"""HSTU backbone (pointwise aggregated, gated attention) with and without
latent reasoning."""

import keras
from keras import ops

from rearec_keras.backbones import declared_setting
from rearec_keras.layers.hstu_encoder import HSTUEncoder
from rearec_keras.models.rea_sasrec import _base_kwargs
from rearec_keras.models.rearec_model import ReaRecModel

# The time bias setting (default and range) as the `hstu` backbone declares it.
TIME_BUCKETS = declared_setting("time_buckets")


def relative_time_tensor(timestamps):
    """float32 `[B, L]`: each row's timestamps minus its newest one (the
    last column), computed in the input's own dtype (exact for int64
    epochs) — the time bias reads only gaps, and float32 keeps them. The
    numpy twin is `rearec_keras.data.relative_timestamps`."""
    timestamps = ops.convert_to_tensor(timestamps)
    return ops.cast(timestamps - timestamps[:, -1:], "float32")


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaHSTU(ReaRecModel):
    """ReaRec on HSTU: `HSTUEncoder` layers in ReaRec's reasoning loop.

    Each layer computes `U, V, Q, K = SiLU(f1(LN(x)))`, the pointwise
    attention `A = SiLU(Q Kᵀ + rab) / n` under the causal mask (no softmax)
    and `x + f2(LN(A V) ⊙ U)`; `rab` is a learned relative position bias,
    plus a relative time bias when timestamps are fed (see `HSTUBlock`).
    `n` is the model's slot count, `max_length + reasoning_steps` (the
    released code divides by the padded length), so each reasoning token
    decoded with the KV cache gets exactly the output a full pass over the
    grown sequence gives it. `num_heads` splits `hidden_dim` into the heads'
    query/key and value sizes; `dropout` is applied before each layer's
    output projection and `attention_dropout` to the attention weights;
    `intermediate_dim` is unused (HSTU has no feed-forward network). Every
    other argument is documented on `ReaRecModel`.

    Args:
        time_buckets: int >= 0. Buckets of the relative time bias (released
            code: 128; default and range: the `time_buckets` setting of the
            `hstu` backbone, `rearec_keras.backbones`). 0 (default) builds
            no time bias. With > 0 the model reads timestamps
            (`uses_timestamps`): every input is `{"histories": [B, L],
            "timestamps": [B, L]}` (the items' timestamps in any one unit;
            only gaps within a row matter, padding slots are ignored), and
            plain histories are refused with a `ValueError` (a model
            trained with its time bias scores differently without it).
            `split.train.for_model(model).as_dataset(...)` yields such
            batches, the evaluator reads a part's `history_timestamps`,
            `score` / `recommend` take the dict or `timestamps=`.
            Per-user halting does not feed timestamps (the reasoner's
            `halting_call` takes none) and is refused for such a model.

    Example:

    ```python
    model = ReaHSTU(num_items=1682, reasoning_steps=2, learning="erl")
    timed = ReaHSTU(num_items=1682, time_buckets=128)
    scores = timed({"histories": histories, "timestamps": seconds})
    timed.fit(split.train.for_model(timed).as_dataset(256, shuffle=True, seed=0))
    ```

    Reference: Zhai et al., "Actions Speak Louder than Words:
    Trillion-Parameter Sequential Transducers for Generative
    Recommendations" (ICML 2024, arXiv:2402.17152); Tang et al.,
    arXiv:2503.22675.
    """

    attention_mode = "causal"

    def __init__(self, num_items, time_buckets: int = TIME_BUCKETS.default, **kwargs):
        # Set before the base constructor, which builds the encoder.
        self.time_buckets = TIME_BUCKETS.check(time_buckets)
        super().__init__(num_items, **kwargs)

    @property
    def uses_timestamps(self) -> bool:
        """Whether the model reads the history items' timestamps (it has a
        time bias, `time_buckets > 0`)."""
        return self.time_buckets > 0

    def _make_encoder(self):
        return HSTUEncoder(
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            max_length=self.max_length + self.reasoning_steps,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            time_buckets=self.time_buckets,
            layer_norm_epsilon=self.layer_norm_epsilon,
            name="encoder",
        )

    @property
    def _default_save_signature(self):
        # TensorFlow edge: Keras' TF backend traces `self(inputs)` from the
        # build shape for a SavedModel's default signature (tf.saved_model
        # and ExportArchive); with a time bias the inputs carry timestamps.
        if not self.uses_timestamps:
            return super()._default_save_signature
        import tensorflow as tf

        spec = {"histories": tf.TensorSpec([None, self.max_length], tf.int32),
                "timestamps": tf.TensorSpec([None, self.max_length], tf.float32)}

        @tf.function(input_signature=[spec])
        def serving_default(inputs):
            return self(inputs)

        return serving_default

    def _input_options(self, inputs):
        if not isinstance(inputs, dict) or inputs.get("timestamps") is None:
            if self.time_buckets > 0:
                raise ValueError(
                    f"this {type(self).__name__} has a time bias (time_buckets="
                    f"{self.time_buckets}) and reads the history items' timestamps: give "
                    "{'histories': [B, L], 'timestamps': [B, L]} (a split part's "
                    "part.for_model(model).as_dataset(...) / part.model_inputs(), or "
                    "timestamps= in score/recommend); got histories without timestamps"
                )
            return {}
        if self.time_buckets == 0:
            raise ValueError(
                "the inputs carry timestamps but this model has no time bias "
                "(time_buckets=0); build it with time_buckets > 0 (e.g. 128) to use them"
            )
        timestamps, histories = inputs["timestamps"], inputs["histories"]
        if tuple(timestamps.shape) != tuple(histories.shape):
            raise ValueError(
                f"timestamps must have the histories' shape {tuple(histories.shape)} (one "
                f"per item slot); got {tuple(timestamps.shape)}"
            )
        return {"timestamps": relative_time_tensor(timestamps)}

    def get_config(self):
        config = super().get_config()
        config["time_buckets"] = self.time_buckets
        return config


@keras.saving.register_keras_serializable(package="rearec_keras")
class HSTU(ReaHSTU):
    """The base HSTU: `ReaHSTU` with `reasoning_steps=0` (`n = max_length`).

    Trained like the other base models of the zoo: cross-entropy of the
    newest position over the full catalog at temperature `base_temperature`
    (the released code trains every position with a sampled softmax).
    """

    def __init__(self, num_items, **kwargs):
        super().__init__(num_items, reasoning_steps=0, **_base_kwargs(kwargs, "HSTU"))
