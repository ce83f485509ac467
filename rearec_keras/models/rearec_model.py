"""ReaRec: a sequential recommender that thinks for K latent steps.

The model reads a left-padded item history, encodes it with a transformer
(causal for SASRec, bidirectional for BERT4Rec), then feeds its last hidden
state back in as a new token K times (with a reasoning position embedding
and a KV cache, one token per step). Training recipes:

* `"erl"` (Ensemble Reasoning Learning): a loss on the steps and a
  diversity term (weight `kl_weight`, λ); inference scores with the mean of
  the K+1 states.
* `"prl"` (Progressive Reasoning Learning): per-step temperatures
  τ·α^(K−k) and a contrastive loss between clean and noise-perturbed
  reasoning states (noise `noise_std`, γ, after `noise_warmup_epochs`);
  inference scores with the last state.
* `"rpe"` / `"naive"`: the paper's ablations, cross-entropy on the last
  step only, with / without reasoning position embeddings.

With `reasoning_steps=0` every method is exactly the base model.

Reference: Tang et al., "Think Before Recommend: Unleashing the Latent
Reasoning Power for Sequential Recommendation", arXiv:2503.22675.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import ops

from rearec_keras.layers import LeftPaddedPositionEmbedding
from rearec_keras.layers import NegativeSampler
from rearec_keras.layers.negative_sampling import NEGATIVES
from rearec_keras.layers import RecurrentReasoning
from rearec_keras.layers import TransformerEncoder
from rearec_keras.losses import EnsembleDiversityLoss
from rearec_keras.losses import MultiStepCrossEntropy
from rearec_keras.losses import ReasoningContrastiveLoss
from rearec_keras.losses import progressive_temperature_values
from rearec_keras.utils.padding import mask_padding_column
from rearec_keras.utils.saving import portable_compile_config
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate

# `pooling` of `score` (None: the learning method's own).
POOLINGS = (None, "mean", "last")

LEARNING_METHODS = ("erl", "prl", "rpe", "naive")
LOSS_VARIANTS = ("code", "paper")
ATTENTION_MODES = ("causal", "bidirectional")
@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaRecModel(keras.Model):
    """ReaRec model on a transformer backbone (base class of the zoo).

    Use the named subclasses: `ReaSASRec`, `ReaBERT4Rec`, `SASRec`,
    `BERT4Rec`. Defaults follow the official code (spec §2, §6): post-LN
    blocks, N(0, 0.02) init, LayerNorm + Dropout(0.2) on the encoder input
    at every step, logit temperature 0.07, noise std 0.01 after 2 warm-up
    epochs. `hidden_dim` defaults to 64 (the paper uses 256).

    Args:
        num_items: catalog size; item ids are `1..num_items`, 0 is padding.
        max_length: longest history the model reads (paper: 50).
        hidden_dim: embedding and hidden size d.
        num_layers / num_heads / intermediate_dim: transformer sizes
            (code: 2 layers, 2 heads, FFN 300).
        dropout / attention_dropout: block dropout rates (code: 0.5, 0.5).
        input_dropout / input_layer_norm: the official code's
            `Dropout(LayerNorm(·))` on the encoder input at every step
            (0.2, True); `input_dropout=0, input_layer_norm=False` is the
            paper's plain input.
        layer_norm_epsilon: LayerNorm epsilon (code: 1e-12).
        reasoning_steps: K, extra latent steps (paper best: 2). Lower it at
            inference with `score(..., steps=k)`.
        learning: `"erl"`, `"prl"`, `"rpe"` or `"naive"`.
        base_temperature: τ, divides every logit (code 0.07 everywhere;
            the paper mentions a temperature only for PRL: set 1.0 for the
            paper's untempered softmax in the base/ERL models). PRL's last
            step uses τ; step k uses τ·α^(K−k). Grid {0.05,…,5}.
        temperature_decay: α >= 1 (code `temp_scale` = 5; grid {1,…,10}).
        kl_weight: λ, weight of ERL's diversity term (grid 0.001–0.1;
            code 0.05).
        diversity: ERL divergence, `"kl"` (default: the code's
            KL(p_j ‖ sg p_i) over ordered step pairs, each saturated as
            `log(N)·tanh(KL/log(N))`: equal to the code's value and gradient
            for small KL, but bounded, so subtracting it cannot diverge —
            the released loss is unbounded and reached NaN on ml-100k, spec
            §13) or `"js"` (Jensen-Shannon, bounded by log 2).
        noise_std: γ as a standard deviation (code: 0.01; the paper calls
            γ a variance: pass `sqrt(γ)` for that reading).
        noise_warmup_epochs: PRL noise (and the contrastive term) starts
            after this many epochs (code: 2; epochs are 1-based).
        twin_inputs: `"clean"` (code: the noisy twin's next input is the
            clean state + P^R + ε) or `"noisy"` (the twin feeds its own
            state forward).
        contrastive_weight: weight of PRL's reasoning contrastive loss.
        loss_variant: `"code"` (default; the released losses: ERL CE on
            the mean-pooled state, PRL "last step + mean of earlier steps",
            contrastive loss averaged over steps) or `"paper"` (ERL sum of
            per-step CE, PRL sum of per-step tempered CE, contrastive loss
            summed over steps).
        negatives: `"full"` (default: exact softmax over the catalog) or a
            sampled softmax for large catalogs: `"in_batch"` (the batch's
            targets are the negatives), `"uniform"` or `"popularity"`
            (`num_negatives` items shared by the batch). Applies to every
            training term (CE, ERL's diversity, PRL's tempered CE); see
            `NegativeSampler`. Evaluation and inference always rank the
            full catalog.
        num_negatives: `M` sampled negatives per batch (default 1024).
        logq_correction: subtract the log expected count of each candidate
            (default True).
        item_frequencies: `[num_items + 1]` counts, e.g.
            `split.train_item_counts()`; needed by `"popularity"` and the
            in-batch logQ correction. Saved in the weights.

    Call arguments:
        histories: int `[batch, L]`, left-padded with 0, `L <= max_length`.
        training: in training mode the call returns the reasoning states
            used by the loss (`{"states": [B, K+1, d]}` and, when PRL noise
            is active, `"noisy_states"`); otherwise it returns scores
            `[B, num_items + 1]` whose padding column is `-1e9`.

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
        max_length: int = 50,
        hidden_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 2,
        intermediate_dim: int = 300,
        dropout: float = 0.5,
        attention_dropout: float = 0.5,
        input_dropout: float = 0.2,
        input_layer_norm: bool = True,
        layer_norm_epsilon: float = 1e-12,
        reasoning_steps: int = 2,
        learning: str = "prl",
        base_temperature: float = 0.07,
        temperature_decay: float = 5.0,
        kl_weight: float = 0.05,
        diversity: str = "kl",
        noise_std: float = 0.01,
        noise_warmup_epochs: int = 2,
        twin_inputs: str = "clean",
        contrastive_weight: float = 1.0,
        loss_variant: str = "code",
        negatives: str = "full",
        num_negatives: int = 1024,
        logq_correction: bool = True,
        item_frequencies=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("num_items", num_items, 1)
        check_int("max_length", max_length, 1)
        check_int("hidden_dim", hidden_dim, 1)
        check_int("num_layers", num_layers, 1)
        check_int("num_heads", num_heads, 1)
        check_int("intermediate_dim", intermediate_dim, 1)
        check_rate("dropout", dropout)
        check_rate("attention_dropout", attention_dropout)
        check_rate("input_dropout", input_dropout)
        check_int("reasoning_steps", reasoning_steps, 0)
        if learning not in LEARNING_METHODS:
            raise ValueError(f"`learning` must be one of {LEARNING_METHODS}, got {learning!r}.")
        if loss_variant not in LOSS_VARIANTS:
            raise ValueError(f"`loss_variant` must be one of {LOSS_VARIANTS}, got {loss_variant!r}.")
        check_float("base_temperature", base_temperature, 0.0, exclusive_minimum=True)
        check_float("temperature_decay", temperature_decay, 1.0)
        check_float("kl_weight", kl_weight, 0.0)
        check_float("noise_std", noise_std, 0.0)
        check_int("noise_warmup_epochs", noise_warmup_epochs, 0)
        check_float("contrastive_weight", contrastive_weight, 0.0)
        if twin_inputs not in ("clean", "noisy"):
            raise ValueError(f"`twin_inputs` must be 'clean' or 'noisy', got {twin_inputs!r}.")
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )

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
        self.temperature_decay = float(temperature_decay)
        self.kl_weight = float(kl_weight)
        self.diversity = diversity
        self.noise_std = float(noise_std)
        self.noise_warmup_epochs = int(noise_warmup_epochs)
        self.twin_inputs = twin_inputs
        self.contrastive_weight = float(contrastive_weight)
        self.loss_variant = loss_variant
        check_choice("negatives", negatives, NEGATIVES)
        self.negatives = negatives
        self.num_negatives = check_int("num_negatives", num_negatives, 1)
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

        # Sub-layers take the model's dtype policy (e.g. `dtype="mixed_bfloat16"`).
        with self._sublayer_policy():
            self._make_item_layers()
            self.position_embedding = LeftPaddedPositionEmbedding(
                self.max_length, self.hidden_dim, name="position_embedding"
            )
            encoder = TransformerEncoder(
                num_layers=self.num_layers,
                hidden_dim=self.hidden_dim,
                num_heads=self.num_heads,
                intermediate_dim=self.intermediate_dim,
                dropout=self.dropout,
                attention_dropout=self.attention_dropout,
                layer_norm_epsilon=self.layer_norm_epsilon,
                name="encoder",
            )
            self.reasoning = RecurrentReasoning(
                encoder,
                reasoning_steps=self.reasoning_steps,
                hidden_dim=self.hidden_dim,
                use_reasoning_position=self.learning != "naive",
                input_layer_norm=self.input_layer_norm,
                input_dropout=self.input_dropout,
                layer_norm_epsilon=self.layer_norm_epsilon,
                name="reasoning",
            )
        # Training-time switch for PRL's noisy twin, flipped by
        # `ReasoningNoiseSchedule` at the end of the warm-up (which also
        # retraces the train function, so the graph stays static).
        self.noise_active = False
        self._build_losses()

    # ------------------------------------------------------------------
    # Losses.

    def _build_losses(self):
        K = self.reasoning_steps
        self._ce = MultiStepCrossEntropy(name="step_ce")
        if self.learning == "prl" and K > 0:
            self._prl_ce = MultiStepCrossEntropy(
                temperatures=progressive_temperature_values(
                    K, self.base_temperature, self.temperature_decay
                ),
                variant=self.loss_variant,
                name="progressive_ce",
            )
            self._rcl = ReasoningContrastiveLoss(
                temperature=self.base_temperature,
                reduction_over_steps="mean" if self.loss_variant == "code" else "sum",
                name="reasoning_contrastive",
            )
        if self.learning == "erl" and K > 0:
            self._erl_ce = MultiStepCrossEntropy(
                temperatures=[self.base_temperature] * (K + 1),
                variant="paper",
                name="ensemble_ce",
            )
            self._diversity = EnsembleDiversityLoss(divergence=self.diversity, name="diversity")

    @property
    def uses_noise(self) -> bool:
        """Whether training ever runs PRL's noisy twin."""
        return self.learning == "prl" and self.reasoning_steps > 0 and self.noise_std > 0

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

    def _states(self, histories, steps=None, training=False, noise=False, table=None):
        x, padding_mask = self._item_inputs(histories, table)
        return self.reasoning(
            x,
            padding_mask,
            mode=self.attention_mode,
            steps=steps,
            noise_std=self.noise_std if noise else 0.0,
            twin_inputs=self.twin_inputs,
            training=training,
        )

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
        """How inference combines the states: `"mean"` for ERL (K+1 terms,
        spec §4), `"last"` otherwise."""
        return "mean" if self.learning == "erl" else "last"

    def _pool(self, states):
        if self.inference_pooling == "mean":
            return ops.mean(states, axis=1)
        return states[:, -1]

    def user_vectors(self, histories, steps=None):
        """Inference user vectors `[batch, d]` (float32, traceable).

        The learning method's pooled state divided by the base temperature,
        so that `user_vectors(h) · item_vectors()ᵀ` equals `model(h)` (before
        the padding column is masked). This is what serving exports as
        `encode` and what large-catalog evaluation streams over item chunks.
        """
        states = self._states(histories, steps=steps, training=False)["states"]
        return ops.cast(self._pool(states), "float32") / self.base_temperature

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
        if input_shape is not None and len(input_shape) == 2 and input_shape[1] is not None:
            length = int(input_shape[1])
        dummy = np.zeros((1, length), dtype="int32")
        dummy[0, -1] = 1
        self._states(dummy, training=False)
        self._logits(ops.zeros((1, self.hidden_dim)))
        if self.negative_sampler is not None:
            self.negative_sampler.build()
        self.built = True

    def call(self, histories, training=False):
        if training:
            table = self._training_table()
            outputs = self._states(
                histories, training=True, noise=self.noise_active and self.uses_noise, table=table
            )
            if table is not None:
                outputs = {**outputs, "item_table": table}
            return outputs
        return self._logits(self.user_vectors(histories))

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
            loss = self._ce(y, ops.expand_dims(y_pred, 1), sample_weight=sample_weight)
        else:
            loss = self._training_loss(y, y_pred, sample_weight)
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(v, "float32") for v in self.losses]))
        return loss

    def _training_logits(self, y, table=None):
        """`logits(vectors, temperatures) -> (logits, targets)` for one batch.

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

    def _training_loss(self, y, outputs, sample_weight):
        states = outputs["states"]
        tau = self.base_temperature
        K = self.reasoning_steps
        logits = self._training_logits(y, outputs.get("item_table"))
        if K == 0 or self.learning in ("rpe", "naive"):
            last, targets = logits(states[:, -1:], tau)
            return self._ce(targets, last / tau, sample_weight=sample_weight)
        if self.learning == "erl":
            step_logits, targets = logits(states, tau)  # [B, K+1, C]
            if self.loss_variant == "code":
                pooled, _ = logits(ops.mean(states, axis=1, keepdims=True), tau)
                loss = self._ce(targets, pooled / tau, sample_weight=sample_weight)
            else:
                loss = self._erl_ce(targets, step_logits, sample_weight=sample_weight)
            if self.kl_weight > 0:
                loss = loss + self.kl_weight * self._diversity(
                    targets, step_logits / tau, sample_weight=sample_weight
                )
            return loss
        # PRL: each step's logQ correction uses that step's temperature.
        step_logits, targets = logits(states, self._prl_ce.step_temperatures(K + 1))
        loss = self._prl_ce(targets, step_logits, sample_weight=sample_weight)
        noisy = outputs.get("noisy_states")
        if noisy is not None and self.contrastive_weight > 0:
            loss = loss + self.contrastive_weight * self._rcl(
                None, (states, noisy), sample_weight=sample_weight
            )
        return loss

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, plus the PRL noise warm-up schedule.

        A `ReasoningNoiseSchedule` callback is added unless one is given;
        it switches the noisy twin on after `noise_warmup_epochs`.
        """
        callbacks = list(callbacks or [])
        if self.uses_noise and not any(isinstance(c, ReasoningNoiseSchedule) for c in callbacks):
            callbacks.insert(0, ReasoningNoiseSchedule())
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def get_compile_config(self):
        """Keras' compile config, loadable and trainable on every backend
        (see `rearec_keras.utils.saving.portable_compile_config`)."""
        return portable_compile_config(self, super().get_compile_config())

    # ------------------------------------------------------------------
    # Inference API (eager, validated, batched).

    def check_histories(self, histories) -> np.ndarray:
        """Validate a history batch and return it as int32 numpy.

        Raises:
            ValueError: wrong rank, non-integer values, ids outside
                `0..num_items`, histories longer than `max_length`, or a row
                without any real item.
        """
        arr = np.asarray(keras.ops.convert_to_numpy(histories))
        if arr.ndim != 2:
            raise ValueError(
                f"histories must be 2-D [batch, length] item ids (left-padded with 0); "
                f"got shape {arr.shape}."
            )
        if arr.dtype == np.bool_ or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise ValueError(f"histories must hold integer item ids, got dtype {arr.dtype}.")
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise ValueError("histories must hold integer item ids; found non-integral values.")
        if arr.shape[1] > self.max_length:
            raise ValueError(
                f"histories have length {arr.shape[1]} but the model reads at most "
                f"max_length={self.max_length}; keep the last {self.max_length} items."
            )
        bad = (arr < 0) | (arr > self.num_items)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"history contains item id {int(arr[row, col])} (row {row}, column {col}) "
                f"but the model knows {self.num_items} items (ids 1..{self.num_items}; "
                "0 is padding)."
            )
        empty = ~(arr != 0).any(axis=1)
        if empty.any():
            raise ValueError(
                f"history row {int(np.argmax(empty))} is empty (only padding); every row "
                "needs at least one item."
            )
        return arr.astype(np.int32)

    def _check_steps(self, steps):
        if steps is None:
            return self.reasoning_steps
        check_int("steps", steps, 0)
        if steps > self.reasoning_steps:
            raise ValueError(
                f"steps={steps} exceeds the reasoning_steps={self.reasoning_steps} the model "
                "was built with."
            )
        return int(steps)

    def predict(self, x, *args, **kwargs):
        """Scores `[n, num_items + 1]`; the padding column is `-1e9`."""
        if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
            x = self.check_histories(x)
        return super().predict(x, *args, **kwargs)

    def reasoning_states(self, histories, steps=None, batch_size=256) -> np.ndarray:
        """The reasoning states `[n, steps + 1, d]` (eval mode)."""
        return self._reasoning_states(
            self.check_histories(histories), self._check_steps(steps), batch_size
        )

    def _reasoning_states(self, arr, steps, batch_size):
        out = [
            keras.ops.convert_to_numpy(
                self._states(arr[i : i + batch_size], steps=steps, training=False)["states"]
            )
            for i in range(0, len(arr), batch_size)
        ]
        return np.concatenate(out)

    def step_scores(self, histories, steps=None, batch_size=256) -> np.ndarray:
        """Scores of every reasoning step, `[n, steps + 1, num_items + 1]`."""
        states = self.reasoning_states(histories, steps=steps, batch_size=batch_size)
        return self.scores_from_states(states, pooling="each", batch_size=batch_size)

    def score(self, histories, steps=None, pooling=None, batch_size=256) -> np.ndarray:
        """Scores `[n, num_items + 1]` with `steps` reasoning steps.

        Args:
            steps: reasoning steps to run (default: all K); fewer than
                trained is allowed.
            pooling: `"mean"` (ERL's inference), `"last"` (PRL's) or None
                for the learning method's own.
        """
        return self._score(
            self.check_histories(histories), self._check_steps(steps), pooling, batch_size
        )

    def _score(self, arr, steps, pooling, batch_size):
        check_choice("pooling", pooling, POOLINGS)  # before the encoder runs
        return self.scores_from_states(
            self._reasoning_states(arr, steps, batch_size), pooling, batch_size
        )

    def scores_from_states(self, states, pooling=None, batch_size=None) -> np.ndarray:
        """Catalog scores from reasoning states `[n, S, d]`.

        Scores several views of one encoder pass, e.g. every step and the
        model's own inference, without running the encoder again.

        Args:
            states: `[n, S, d]`, e.g. from `reasoning_states`.
            pooling: `"each"`: one score row per state, `[n, S, N + 1]`;
                `"mean"` / `"last"`: scores of the mean / last state,
                `[n, N + 1]`; None: `inference_pooling` (the learning
                method's own).
            batch_size: rows scored at a time (None: all at once).
        """
        check_choice("pooling", pooling, POOLINGS + ("each",))
        states = np.asarray(states)
        if pooling != "each":
            pooling = pooling or self.inference_pooling
            states = states.mean(axis=1) if pooling == "mean" else states[:, -1]
        size = batch_size or max(len(states), 1)
        return np.concatenate([
            keras.ops.convert_to_numpy(
                self._logits(states[i : i + size] / self.base_temperature)
            )
            for i in range(0, max(len(states), 1), size)
        ])

    def recommend(self, histories, k=10, exclude_history=False, steps=None, batch_size=256):
        """Top-k item ids and scores per history.

        Returns:
            `(ids, scores)`: int32 `[n, k]` and float32 `[n, k]`, best
            first. Padding (id 0) is never returned; with
            `exclude_history=True` items already in the history are not
            recommended either.
        """
        arr = self.check_histories(histories)
        check_int("k", k, 1, self.num_items)
        steps = self._check_steps(steps)
        ids, values = [], []
        for i in range(0, len(arr), batch_size):
            batch = arr[i : i + batch_size]
            scores = self._score(batch, steps, None, batch_size)
            if exclude_history:
                rows = np.repeat(np.arange(len(batch)), batch.shape[1])
                scores[rows, batch.ravel()] = -np.inf
            # Rank items 1..N only: padding is never returned, even when k
            # exceeds the unseen items (their tail is seen items at -inf).
            scores = scores[:, 1:]
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            ids.append(np.take_along_axis(top, order, axis=1).astype(np.int32) + 1)
            values.append(np.take_along_axis(top_scores, order, axis=1).astype(np.float32))
        return np.concatenate(ids), np.concatenate(values)

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
                "temperature_decay": self.temperature_decay,
                "kl_weight": self.kl_weight,
                "diversity": self.diversity,
                "noise_std": self.noise_std,
                "noise_warmup_epochs": self.noise_warmup_epochs,
                "twin_inputs": self.twin_inputs,
                "contrastive_weight": self.contrastive_weight,
                "loss_variant": self.loss_variant,
                "negatives": self.negatives,
                "num_negatives": self.num_negatives,
                "logq_correction": self.logq_correction,
                # The counts live in the sampler's weights, not the config.
                "item_frequencies": (
                    "weights" if getattr(self.negative_sampler, "_stored", False) else None
                ),
            }
        )
        return config


class ReasoningNoiseSchedule(keras.callbacks.Callback):
    """Turns PRL's noisy twin on after the model's `noise_warmup_epochs`.

    Epochs are counted 1-based as in the official code: with warm-up 2 the
    noise (and the contrastive loss) start in epoch 3. Switching retraces
    the train function, so warm-up epochs never duplicate the batch.
    `ReaRecModel.fit` adds this callback automatically.
    """

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        if not getattr(model, "uses_noise", False):
            return
        active = epoch + 1 > model.noise_warmup_epochs
        if active != model.noise_active:
            model.noise_active = active
            model.make_train_function(force=True)
