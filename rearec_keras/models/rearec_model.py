"""ReaRec: a sequential recommender that thinks for K latent steps.

The model is composed of four parts:

* an **item representation**: the tied id embedding here; the text
  backbones override the item hooks (`_make_item_layers`, `_item_table`,
  `_training_table`, `_lookup_items`) with an adaptor of frozen features;
* an **encoder** with the cache interface (`TransformerEncoder` by
  default, causal for SASRec, bidirectional for BERT4Rec; `HSTUEncoder`
  for HSTU, a subclass's `_make_encoder`; pass `encoder=` for another,
  e.g. a GRU);
* a **reasoner** that turns the encoded sequence into reasoning states
  `[B, K+1, d]` (`RecurrentReasoning`, ReaRec's token-appending loop with
  a KV cache, by default; pass `reasoner=` for another);
* a **learning method** (`learning=`, a name in `rearec_keras.methods`)
  that owns the loss, the pooling of the states, the training phases and
  its own settings.

With `reasoning_steps=0` every method is exactly the base model.

Reference: Tang et al., "Think Before Recommend: Unleashing the Latent
Reasoning Power for Sequential Recommendation", arXiv:2503.22675.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import ops

from rearec_keras import methods
from rearec_keras.layers import LeftPaddedPositionEmbedding
from rearec_keras.layers import NegativeSampler
from rearec_keras.layers import RecurrentReasoning
from rearec_keras.layers import TransformerEncoder
from rearec_keras.layers.recurrent_reasoning import _accepts
from rearec_keras.losses import MultiStepCrossEntropy
from rearec_keras.models.recommender import SequentialRecommender
from rearec_keras.model_settings import check_model_settings
from rearec_keras.model_settings import default
from rearec_keras.utils.padding import mask_padding_column
from rearec_keras.utils.saving import portable_compile_config
from rearec_keras.utils.validation import check_int



@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaRecModel(SequentialRecommender):
    """ReaRec model: item representation, encoder, reasoner and method.

    Use the named subclasses: `ReaSASRec`, `ReaBERT4Rec`, `ReaHSTU`,
    `SASRec`, `BERT4Rec`, `HSTU` (and the text backbones). Defaults follow
    the released ReaRec code: post-LN blocks, N(0, 0.02) init, LayerNorm + Dropout(0.2)
    on the encoder input at every step, logit temperature 0.07, PRL noise
    std 0.01 after 2 warm-up epochs. `hidden_dim` defaults to 64 (the paper
    uses 256).

    Args:
        num_items: catalog size; item ids are `1..num_items`, 0 is padding.
        max_length: longest history the model reads (paper: 50).
        hidden_dim: embedding and hidden size d.
        num_layers / num_heads / intermediate_dim: transformer sizes
            (code: 2 layers, 2 heads, FFN 300).
        dropout / attention_dropout: block dropout rates (code: 0.5, 0.5).
        input_dropout / input_layer_norm: the released code's
            `Dropout(LayerNorm(·))` on the encoder input at every step
            (0.2, True); `input_dropout=0, input_layer_norm=False` is the
            paper's plain input.
        layer_norm_epsilon: LayerNorm epsilon (code: 1e-12).
        reasoning_steps: K, extra latent steps (paper best: 2). Change it
            at inference with `score(..., steps=k)` (up to K for ReaRec's
            reasoner; any depth for a reasoner with `max_steps=None`).
        learning: the learning method, a name registered in
            `rearec_keras.methods` (built in: `"base"`, `"rpe"`, `"naive"`,
            `"erl"`, `"prl"`; see `rearec_keras.methods.method_names()`).
        base_temperature: τ, divides every logit (code 0.07 everywhere;
            1.0 is the paper's untempered softmax for the base/ERL models).
            PRL's last step uses τ; step k uses τ·α^(K−k). Grid {0.05,…,5}.
        negatives: `"full"` (default: exact softmax over the catalog) or a
            sampled softmax for large catalogs: `"in_batch"` (the batch's
            targets are the negatives), `"uniform"` or `"popularity"`
            (`num_negatives` items shared by the batch). Applies to every
            training term; see `NegativeSampler`. Evaluation and inference
            always rank the full catalog.
        num_negatives: `M` sampled negatives per batch (default 1024).
        logq_correction: subtract the log expected count of each candidate
            (default True).
        item_frequencies: `[num_items + 1]` counts, e.g.
            `split.train_item_counts()`; needed by `"popularity"` and the
            in-batch logQ correction. Saved in the weights.
        encoder: optional Keras layer with the cache interface
            `encoder(inputs, attention_mask=, cache=, training=) ->
            (outputs, cache)` used instead of the transformer (wrapped in
            the standard reasoner).
        reasoner: optional reasoner layer used instead of
            `RecurrentReasoning` (see `rearec_keras.reasoners.Reasoner` for
            the contract); `encoder` must then be None.
        phase: the training phase to start in (by name; default the
            method's first). Saved with the model.
        **kwargs: the learning method's settings, e.g. `kl_weight` (λ) for
            ERL or `noise_std` (γ) for PRL: each method lists its own
            (`rearec_keras.methods.get_method("prl").settings`). Settings of
            other registered methods are accepted and have no effect, so
            one set of settings can be switched between methods. Anything
            else goes to `keras.Model`.

    Call arguments:
        histories: int `[batch, L]`, left-padded with 0, `L <= max_length`.
        training: in training mode the call returns the reasoning states
            used by the loss (`{"states": [B, K+1, d]}` plus what the method
            asks for, e.g. PRL's `"noisy_states"`); otherwise it returns
            scores `[B, num_items + 1]` whose padding column is `-1e9`.

    Example:

    ```python
    split = rearec_keras.data.leave_one_out(load_movielens("ml-100k"))
    model = ReaSASRec(split.num_items, reasoning_steps=2, learning="prl")
    model.compile(optimizer="adam")
    model.fit(split.train.as_dataset(256, shuffle=True, seed=0), epochs=10)
    scores = model.predict(split.test.histories)     # [943, 1683]
    ids, values = model.recommend(split.test.histories[:2], k=10)
    ```
    """

    attention_mode = "causal"

    def __init__(
        self,
        num_items: int,
        max_length: int = default("max_length"),
        hidden_dim: int = default("hidden_dim"),
        num_layers: int = default("num_layers"),
        num_heads: int = default("num_heads"),
        intermediate_dim: int = default("intermediate_dim"),
        dropout: float = default("dropout"),
        attention_dropout: float = default("attention_dropout"),
        input_dropout: float = default("input_dropout"),
        input_layer_norm: bool = True,
        layer_norm_epsilon: float = 1e-12,
        reasoning_steps: int = default("reasoning_steps"),
        learning: str = "prl",
        base_temperature: float = default("base_temperature"),
        negatives: str = default("negatives"),
        num_negatives: int = default("num_negatives"),
        logq_correction: bool = True,
        item_frequencies=None,
        encoder=None,
        reasoner=None,
        phase=None,
        **kwargs,
    ):
        method_cls = methods.get_method(learning)
        known = methods.all_settings()
        method_values = {}
        for name in list(kwargs):
            if name in known:
                value = kwargs.pop(name)
                if name in method_cls.setting_names():
                    method_values[name] = value
                else:  # another method's setting: checked, without effect
                    known[name].check(value)
        super().__init__(**kwargs)
        check_int("num_items", num_items, 1)
        check_model_settings(
            max_length=max_length, hidden_dim=hidden_dim, num_layers=num_layers,
            num_heads=num_heads, intermediate_dim=intermediate_dim, dropout=dropout,
            attention_dropout=attention_dropout, input_dropout=input_dropout,
            reasoning_steps=reasoning_steps, base_temperature=base_temperature,
            negatives=negatives, num_negatives=num_negatives,
        )
        if not method_cls.reasons and reasoning_steps != 0:
            raise ValueError(
                f"learning={learning!r} trains the backbone without reasoning; "
                f"reasoning_steps must be 0, got {reasoning_steps}."
            )
        if encoder is not None and reasoner is not None:
            raise ValueError("pass `encoder` or `reasoner`, not both (a reasoner owns its "
                             "encoder).")
        self.method = method_cls(**method_values)
        method_cls.check_model(self.method.get_config(), int(reasoning_steps),
                               float(base_temperature))

        self.num_items = int(num_items)
        self.max_length = int(max_length)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.input_dropout = float(input_dropout)
        self.input_layer_norm = bool(input_layer_norm)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.reasoning_steps = int(reasoning_steps)
        self.learning = learning
        self.base_temperature = float(base_temperature)
        # The method's settings read as model attributes too (`model.kl_weight`).
        for name, value in self.method.get_config().items():
            setattr(self, name, value)
        self.negatives = negatives
        self.num_negatives = int(num_negatives)
        self.logq_correction = bool(logq_correction)
        # Sampled softmax (large catalogs); the sampler checks the rest.
        self.negative_sampler = None
        if negatives != "full":
            self.negative_sampler = NegativeSampler(
                self.num_items,
                negatives=negatives,
                num_negatives=self.num_negatives,
                item_frequencies=item_frequencies,
                logq_correction=self.logq_correction,
                name="negative_sampler",
            )
        if negatives in ("uniform", "popularity") and self.num_negatives > self.num_items:
            raise ValueError(
                f"num_negatives={self.num_negatives:,} is larger than the catalog "
                f"({self.num_items:,} items): each batch would draw the same items many times "
                f"over; use at most {self.num_items:,}, or negatives='full' (the exact "
                "softmax) for a catalog this small."
            )

        self._custom_encoder = encoder is not None
        self._custom_reasoner = reasoner is not None
        # Sub-layers take the model's dtype policy (e.g. `dtype="mixed_bfloat16"`).
        with self._sublayer_policy():
            self._make_item_layers()
            self.position_embedding = LeftPaddedPositionEmbedding(
                self.max_length, self.hidden_dim, name="position_embedding"
            )
            if reasoner is None:
                reasoner = self.method.make_reasoner(self, encoder)
            if reasoner is None:
                reasoner = self._make_reasoner(encoder)
            self.reasoning = reasoner
        self._reasoner_mode = _accepts(self.reasoning, "mode")
        self._eval_ce = MultiStepCrossEntropy(name="step_ce")
        with self._sublayer_policy():
            self.method.build(self)
        self.phases = tuple(self.method.phases(self))
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"learning={learning!r} declares repeated phase names {names}")
        self._phase_index = 0
        self._pinned = False
        if phase is not None:
            self.set_phase(phase, retrace=False)

    # ------------------------------------------------------------------
    # Parts.

    def _make_encoder(self):
        """The backbone's encoder (cache interface) when none is passed: the
        transformer; a backbone with other blocks overrides this (`ReaHSTU`)."""
        return TransformerEncoder(
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            name="encoder",
        )

    def _make_reasoner(self, encoder=None):
        """The standard reasoner (ReaRec's loop) over `encoder` or the
        backbone's own (`_make_encoder`); the method may set its options
        (e.g. no `P^R`)."""
        if encoder is None:
            encoder = self._make_encoder()
        options = {"use_reasoning_position": True, **self.method.reasoner_options}
        return RecurrentReasoning(
            encoder,
            reasoning_steps=self.reasoning_steps,
            hidden_dim=self.hidden_dim,
            input_layer_norm=self.input_layer_norm,
            input_dropout=self.input_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            name="reasoning",
            **options,
        )

    @property
    def max_steps(self):
        """The deepest `steps` the reasoner runs (None: any depth)."""
        return getattr(self.reasoning, "max_steps", self.reasoning_steps)

    # ------------------------------------------------------------------
    # Training phases.

    @property
    def phase(self):
        """The current training phase (`rearec_keras.methods.Phase`)."""
        return self.phases[self._phase_index]

    def set_phase(self, phase, retrace=True, pin=False):
        """Switches to a phase (by name, index or `Phase`). A change
        retraces the train function (each phase has a static graph).
        `pin=True` keeps it for every epoch of later `fit` calls (the
        `PhaseSchedule` no longer follows the phases' epoch counts)."""
        if isinstance(phase, methods.Phase):
            phase = phase.name
        names = [p.name for p in self.phases]
        if isinstance(phase, int) and not isinstance(phase, bool):
            if not 0 <= phase < len(self.phases):
                raise ValueError(f"phase index {phase} is outside 0..{len(self.phases) - 1}")
            index = phase
        elif phase in names:
            index = names.index(phase)
        else:
            raise ValueError(
                f"learning={self.learning!r} has no phase {phase!r} (its phases: {names})"
            )
        self._pinned = pin
        if index != self._phase_index:
            self._phase_index = index
            if retrace:
                self.method.on_phase_start(self, self.phases[index])
            if retrace and getattr(self, "train_function", None) is not None:
                self.make_train_function(force=True)

    def phase_for_epoch(self, epoch: int):
        """The phase that runs epoch `epoch` (0-based); the pinned one
        after `set_phase(..., pin=True)`."""
        if self._pinned:
            return self.phase
        return methods.phase_at(self.phases, epoch)

    @property
    def uses_noise(self) -> bool:
        """Whether some training phase runs a noisy twin (PRL)."""
        return any(p.options.get("noise") for p in self.phases)

    @property
    def noise_active(self) -> bool:
        """Whether the current phase runs the noisy twin."""
        return bool(self.phase.options.get("noise"))

    @noise_active.setter
    def noise_active(self, value):
        for phase in self.phases:
            if bool(phase.options.get("noise")) == bool(value):
                self.set_phase(phase)
                return
        if value:
            raise ValueError(f"learning={self.learning!r} has no noisy phase")

    # ------------------------------------------------------------------
    # Forward pieces.

    def _make_item_layers(self):
        """Creates the item representation (called in `__init__` under the
        model's dtype policy): the tied id embedding `E`. Text models
        override this and `_item_table` / `_lookup_items`."""
        self.item_embedding = keras.layers.ReversibleEmbedding(
            self.num_items + 1,
            self.hidden_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="item_embedding",
        )

    def _item_table(self, training=False):
        """The item table `[num_items + 1, d]` (compute dtype) shared by the
        encoder inputs and the catalog scores."""
        return self.item_embedding.embeddings

    def _training_table(self):
        """The item table one training step shares between its inputs and its
        loss, or None when lookups are plain embedding reads (id models)."""
        return None

    def _lookup_items(self, histories, table=None):
        """Item vectors `[batch, L, d]` of the history ids."""
        if table is not None:
            return ops.take(table, histories, axis=0)
        return self.item_embedding(histories)

    def _item_inputs(self, histories, table=None):
        histories = ops.cast(histories, "int32")
        padding_mask = ops.not_equal(histories, 0)
        x = self._lookup_items(histories, table) + self.position_embedding(padding_mask)
        return x, padding_mask

    def _states(self, histories, steps=None, training=False, table=None, **options):
        """The reasoner's outputs (`{"states": [B, steps + 1, d], ...}`);
        `options` are passed to the reasoner's call (a method's
        `forward_options`)."""
        x, padding_mask = self._item_inputs(histories, table)
        if self._reasoner_mode:
            options.setdefault("mode", self.attention_mode)
        return self.reasoning(x, padding_mask, steps=steps, training=training, **options)

    def item_vectors(self):
        """The tied item table `E` `[num_items + 1, d]` as float32 (row 0 is
        padding). Catalog scores are `user_vectors · Eᵀ`."""
        return ops.cast(self._item_table(training=False), "float32")

    def _logits(self, vectors, table=None):
        """Raw tied scores `vectors · Eᵀ`, padding column masked.

        Always float32, whatever the dtype policy: under `mixed_bfloat16` a
        bf16 catalog matmul collapses nearby scores into ties (PITFALLS.md),
        so the states and the table are cast up before the product.
        """
        table = self.item_vectors() if table is None else ops.cast(table, "float32")
        scores = ops.matmul(ops.cast(vectors, "float32"), ops.transpose(table))
        return mask_padding_column(scores)

    @property
    def inference_pooling(self) -> str:
        """How inference combines the states: the method's `pooling`
        (`"mean"` for ERL, `"last"` otherwise)."""
        return self.method.pooling

    def _halting_rule(self, halting, thresholds, top_k, confidence):
        """The `halt(step, previous, state, memo)` callback of a reasoner's
        `halting_call` for a halting mode (see `halting_states`)."""
        from rearec_keras import halting as halting_lib

        halting_lib.check_rule(halting, thresholds)
        if self.uses_timestamps:
            raise ValueError(
                f"per-user halting does not feed timestamps (the reasoner's halting_call takes "
                f"none), and this {type(self).__name__} reads them (time_buckets="
                f"{getattr(self, 'time_buckets', '?')}); use halting=None, or a model without "
                "a time bias"
            )
        if not hasattr(self.reasoning, "halting_call"):
            raise ValueError(f"halting needs a reasoner that can stop rows early "
                             f"(`halting_call`); {type(self.reasoning).__name__} cannot")
        if halting == "learned" and getattr(self, "halting_network", None) is None:
            raise ValueError("halting mode 'learned' needs a model with a halting head "
                             "(DTRec with halting_head=True); use 'kl', 'all' or 'weighted'")
        tau = self.base_temperature
        # The consistency cut-off: 10 (capped by the catalog), as DTRec's head trains with.
        top_k = min(10, self.num_items) if top_k is None else top_k

        def halt(step, previous, state, memo):
            logits = self._logits(state)
            if memo is None:
                memo = self._logits(previous)
            signals = halting_lib.halting_signals(
                ops.stack([memo, logits], axis=1), ops.stack([previous, state], axis=1),
                top_k=top_k, temperature=tau, confidence=confidence)
            if halting == "learned":
                signals["halting_probability"] = self.method.halting_probabilities(self, signals)
            return halting_lib.halt_mask(signals, halting, thresholds)[:, 0], logits

        return halt

    def _halting_run(self, histories, halt, steps):
        x, padding_mask = self._item_inputs(histories)
        options = {"mode": self.attention_mode} if self._reasoner_mode else {}
        return self.reasoning.halting_call(x, padding_mask, halt, steps=steps, **options)

    def halting_states(self, histories, halting="kl", thresholds=None, steps=None, top_k=None,
                       confidence="max", batch_size=256):
        """Reasoning states with per-user halting (`rearec_keras.halting`).

        After each step a user's signals against the step before decide
        whether it stops (`halting`: `"all"`, `"weighted"`, `"kl"` or
        `"learned"` (DTRec's head), with `thresholds`, see
        `halting.check_rule`); a stopped user leaves the
        batch, so its remaining steps are never computed. Distributions are
        `softmax(r_t Eᵀ / τ)` at the base temperature.

        Returns:
            `(states, halt_steps)`: numpy `[n, steps + 1, d]` (zeros after a
            user's halting step) and `[n]` int32 in `1..steps`.
        """
        halt = self._halting_rule(halting, thresholds, top_k, confidence)
        arr = self.check_histories(histories)
        steps = self._check_steps(steps)
        if len(arr) == 0:
            return (np.zeros((0, steps + 1, self.hidden_dim), "float32"),
                    np.zeros((0,), "int32"))
        states, halts = [], []
        for start in range(0, len(arr), batch_size):
            out, stop = self._halting_run(arr[start:start + batch_size], halt, steps)
            states.append(ops.convert_to_numpy(out))
            halts.append(ops.convert_to_numpy(stop))
        return np.concatenate(states), np.concatenate(halts)

    def halting_user_vectors(self, histories, halting="kl", thresholds=None, steps=None,
                             top_k=None, confidence="max"):
        """`(vectors [batch, d] float32, halt_steps [batch] int32)`: the
        user vectors of `user_vectors` with per-user halting (the method's
        pooling over the steps each user ran). Traceable in a TensorFlow
        graph, where stopped rows leave the batch as they do eagerly: this
        is what a halting SavedModel export serves. `histories` are not
        checked (see `check_histories`)."""
        halt = self._halting_rule(halting, thresholds, top_k, confidence)
        steps = self._check_steps(steps)
        states, halts = self._halting_run(histories, halt, steps)
        step_mask = ops.less_equal(ops.expand_dims(ops.arange(steps + 1, dtype="int32"), 0),
                                   ops.expand_dims(halts, 1))
        pooled = self.method.pool(states, step_mask)
        return ops.cast(pooled, "float32") / self.base_temperature, halts

    def score_with_halting(self, histories, halting="kl", thresholds=None, steps=None,
                           batch_size=256, **options):
        """`(scores [n, num_items + 1], halt_steps [n])`: catalog scores of
        each user's pooled state over the steps it ran (the method's own
        pooling), with `halting_states`' early stop. Unreachable thresholds
        give `score(histories, steps)` exactly."""
        self._halting_rule(halting, thresholds, options.get("top_k"),
                           options.get("confidence", "max"))  # bad settings fail on no rows too
        arr = self.check_histories(histories)
        scores, halts = [], []
        for start in range(0, len(arr), batch_size):
            vectors, stop = self.halting_user_vectors(arr[start:start + batch_size], halting,
                                                      thresholds, steps, **options)
            scores.append(np.asarray(ops.convert_to_numpy(self._logits(vectors))))
            halts.append(ops.convert_to_numpy(stop))
        if not scores:
            return (np.zeros((0, self.num_items + 1), "float32"), np.zeros((0,), "int32"))
        return np.concatenate(scores), np.concatenate(halts)

    def user_vectors(self, histories, steps=None, **options):
        """Inference user vectors `[batch, d]` (float32, traceable).

        The learning method's pooled state divided by the base temperature,
        so that `user_vectors(h) · item_vectors()ᵀ` equals `model(h)` (before
        the padding column is masked). This is what serving exports as
        `encode` and what large-catalog evaluation streams over item chunks.
        `options` go to the reasoner's call (`_input_options`). `histories`
        may be the model's dict input (`{"histories", "timestamps"}`).
        """
        if isinstance(histories, dict) or "timestamps" not in options:
            options = {**self._input_options(histories), **options}
        if isinstance(histories, dict):
            histories = histories["histories"]
        outputs = self._states(histories, steps=steps, training=False, **options)
        pooled = self.method.pool(outputs["states"], outputs.get("step_mask"))
        return ops.cast(pooled, "float32") / self.base_temperature

    @contextlib.contextmanager
    def _sublayer_policy(self):
        """Makes the model's dtype policy the global one while sub-layers
        are created and built (Keras does not pass it down)."""
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.dtype_policy)
        try:
            yield
        finally:
            keras.config.set_dtype_policy(previous)

    def build(self, input_shape=None):
        """Creates every weight by running one dummy batch (eager)."""
        if self.built:
            return
        with self._sublayer_policy():
            self._build(input_shape)

    def _build(self, input_shape):
        length = self.max_length
        if isinstance(input_shape, dict):  # {"histories", "timestamps"} inputs
            input_shape = input_shape.get("histories")
        if isinstance(input_shape, (tuple, list)) and input_shape and isinstance(
                input_shape[0], (tuple, list)):
            input_shape = input_shape[0]  # a method's (histories, ...) batches (LARES')
        if input_shape is not None and len(input_shape) == 2 and input_shape[1] is not None:
            length = int(input_shape[1])
        dummy = np.zeros((1, length), dtype="int32")
        dummy[0, -1] = 1
        self._states(dummy, training=False)
        self._logits(ops.zeros((1, self.hidden_dim)))
        if self.negative_sampler is not None:
            self.negative_sampler.build()
        self.method.build_weights(self)
        self.built = True

    def call(self, histories, training=False):
        # Training batches may carry more than the histories (a method's
        # `training_batches`); the method's loss reads the rest from `x`.
        options = self._input_options(histories)
        histories, _ = self.method.split_inputs(histories)
        if training:
            if not self.phase.options.get("main_forward", True):
                return {}  # the phase's loss runs its own forward passes
            table = self._training_table()
            outputs = self._states(histories, training=True, table=table, **options,
                                   **self.method.forward_options(self, self.phase))
            if table is not None:
                outputs = {**outputs, "item_table": table}
            return outputs
        return self._logits(self.user_vectors(histories, **options))

    def _input_options(self, inputs):
        """Reasoner call options carried by the model's inputs beyond the
        histories (none here; `ReaHSTU` reads a dict input's `"timestamps"`)."""
        return {}

    # ------------------------------------------------------------------
    # Training.

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is None:
            raise ValueError(
                "ReaRec models train on (histories, targets) pairs; got no targets. "
                "Use split.train.as_dataset(...)."
            )
        if not isinstance(y_pred, dict):
            # Evaluation mode (model.evaluate): CE of the inference scores.
            loss = self._eval_ce(y, ops.expand_dims(y_pred, 1), sample_weight=sample_weight)
        else:
            loss = self.method.loss(self, x, y, y_pred, sample_weight)
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(v, "float32") for v in self.losses]))
        return loss

    def training_logits(self, y, table=None):
        """`logits(vectors, temperatures) -> (logits, targets)` for one batch
        (what a method's loss scores states with).

        Full softmax: the whole catalog, targets are the item ids. Sampled
        softmax: one candidate set drawn for the whole batch (so every term
        of the loss sees the same negatives), logQ-corrected for the
        temperature each loss divides by; targets are candidate columns.
        """
        if self.negative_sampler is None:
            return lambda vectors, temperatures: (self._logits(vectors, table), y)
        sampler = self.negative_sampler
        candidates = sampler.sample(y)
        table = self.item_vectors() if table is None else ops.cast(table, "float32")
        return lambda vectors, temperatures: sampler.logits(
            vectors, table, candidates, temperatures
        )

    def train_step(self, *args, **kwargs):
        """Keras' train step, or the current phase's own `train_step`."""
        step = self.phase.train_step
        if step is not None:
            return step(self, *args, **kwargs)
        return super().train_step(*args, **kwargs)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, plus the method's training phases.

        A `PhaseSchedule` callback is added unless one is given when the
        method has several phases (e.g. PRL's noise warm-up) or work at
        every epoch start (DTRec's reclustering); it switches phases at
        epoch boundaries and calls the method's `on_epoch_begin`.
        """
        from rearec_keras.training.callbacks import PhaseSchedule

        from rearec_keras.methods import Method

        callbacks = list(callbacks or [])
        per_epoch = type(self.method).on_epoch_begin is not Method.on_epoch_begin
        if ((len(self.phases) > 1 or per_epoch)
                and not any(isinstance(c, PhaseSchedule) for c in callbacks)):
            callbacks.insert(0, PhaseSchedule())
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def get_compile_config(self):
        """Keras' compile config, loadable and trainable on every backend
        (see `rearec_keras.utils.saving.portable_compile_config`)."""
        return portable_compile_config(self, super().get_compile_config())

    # ------------------------------------------------------------------
    # Serialization.

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_items": self.num_items,
                "max_length": self.max_length,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "input_dropout": self.input_dropout,
                "input_layer_norm": self.input_layer_norm,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "reasoning_steps": self.reasoning_steps,
                "learning": self.learning,
                "base_temperature": self.base_temperature,
                **self.method.get_config(),
                "negatives": self.negatives,
                "num_negatives": self.num_negatives,
                "logq_correction": self.logq_correction,
                # The counts live in the sampler's weights, not the config.
                "item_frequencies": (
                    "weights" if getattr(self.negative_sampler, "_stored", False) else None
                ),
            }
        )
        if len(self.phases) > 1:
            config["phase"] = self.phase.name
        if self._custom_reasoner:
            config["reasoner"] = keras.layers.serialize(self.reasoning)
        elif self._custom_encoder:
            config["encoder"] = keras.layers.serialize(self.reasoning.encoder)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("encoder", "reasoner"):
            if isinstance(config.get(key), dict):
                config[key] = keras.layers.deserialize(config[key])
        return cls(**config)


class MethodModel(ReaRecModel):
    """A `ReaRecModel` bound to one learning method (`learning_name`),
    taking the method's `model_defaults` for settings not given (`LARES`,
    `DTRec`)."""

    learning_name = None

    def __init__(self, num_items, **kwargs):
        name = self.learning_name
        kwargs.setdefault("learning", name)
        if kwargs["learning"] != name:
            raise ValueError(f"{type(self).__name__} trains with learning={name!r}, "
                             f"got {kwargs['learning']!r}")
        for key, value in methods.get_method(name).model_defaults.items():
            kwargs.setdefault(key, value)
        super().__init__(num_items, **kwargs)
