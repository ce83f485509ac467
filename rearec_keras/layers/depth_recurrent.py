"""LARES' depth-recurrent reasoner: one weight-shared core block applied k
times to every position (Liu et al., "LARES: Latent Reasoning for
Sequential Recommendation", arXiv 2505.16865; official code
`BishopLiu/LARES`).

    X   = Dropout(LN_1(E[seq] + P))                 (the model's item inputs)
    H   = Pre(X)                                    pre-block, once
    T_0 = init                                       normal / normal_zero / zero
    T_i = Core(LN_2(f(T_{i-1}, H)))                  i = 1..k, shared weights
    u   = T_k[last position]

`f` re-injects the pre-block output: `add` ((T + H) / 2), `concat`
(Dense over [T; H]) or `linear` (σ(a)·T + (1 − σ(a))·H, one learned
scalar). Both blocks are causal over the left-padded history. The depth
`k` is sampled per forward call in training (`depth_sampler`) and fixed in
evaluation (`steps`, default `mean_depth`), any k ≥ 1 without new weights.

Depth sampling is `sample_depths`; the truncated normal of `T_0` is
`truncated_normal_3sigma`.
"""

import math

import keras
import numpy as np
from keras import ops

from rearec_keras.layers.masks import item_attention_mask
from rearec_keras.layers.reasoner import Reasoner
from rearec_keras.layers.transformer_encoder import TransformerEncoder
from rearec_keras.utils.choices import ADAPTERS
from rearec_keras.utils.choices import DEPTH_SAMPLERS
from rearec_keras.utils.choices import STATE_INITS
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate

# σ of the log-normal rate (official code), so that E[rate] = k̄.
_LOGNORMAL_SIGMA = 0.5


def depth_cap(sampler: str, mean_depth: int) -> int:
    """The largest depth `sampler` draws: 3k̄ (poisson_lognormal), 2k̄
    (uniform, poisson_bounded), k̄ (constant), 1 (non_recurrent)."""
    return {"poisson_lognormal": 3 * mean_depth, "uniform": 2 * mean_depth,
            "poisson_bounded": 2 * mean_depth, "constant": mean_depth,
            "non_recurrent": 1}[sampler]


def _poisson(rate, support, seed):
    """Poisson draws `[n]` by inverse CDF over `0..support - 1`; a draw
    beyond the support returns `support` (callers cap below it)."""
    xs = ops.convert_to_tensor(np.arange(support, dtype="float32"))
    log_fact = ops.convert_to_tensor(
        np.array([math.lgamma(x + 1.0) for x in range(support)], dtype="float32"))
    rate = ops.expand_dims(ops.cast(rate, "float32"), -1)  # [n, 1]
    log_pmf = xs * ops.log(rate) - rate - log_fact  # [n, support]
    cdf = ops.cumsum(ops.exp(log_pmf), axis=-1)
    u = keras.random.uniform(ops.shape(rate), seed=seed)
    return ops.sum(ops.cast(cdf < u, "int32"), axis=-1)


def sample_depths(sampler: str, mean_depth: int, num=1, seed=None):
    """`num` depths (int32 `[num]`) from one of `DEPTH_SAMPLERS`:

    - `poisson_lognormal` (official default): rate ~ LogNormal(ln k̄ −
      σ²/2, σ = 0.5) (so E[rate] = k̄), k = Poisson(rate) + 1, at most 3k̄
      (mean ≈ k̄ + 1);
    - `uniform`: k ~ U{1, ..., 2k̄};
    - `poisson_bounded`: k = Poisson(k̄) clipped to 1..2k̄ (the official
      code allows 0, which runs no core block: our choice is at least 1);
    - `constant`: k̄; `non_recurrent`: 1.
    """
    check_choice("depth_sampler", sampler, DEPTH_SAMPLERS)
    check_int("mean_depth", mean_depth, 1)
    if not isinstance(seed, keras.random.SeedGenerator):  # independent draws below
        seed = keras.random.SeedGenerator(seed)
    cap = depth_cap(sampler, mean_depth)
    if sampler == "constant":
        return ops.full((num,), mean_depth, "int32")
    if sampler == "non_recurrent":
        return ops.ones((num,), "int32")
    if sampler == "uniform":
        return keras.random.randint((num,), 1, cap + 1, seed=seed, dtype="int32")
    if sampler == "poisson_bounded":
        draws = _poisson(ops.full((num,), float(mean_depth)), cap + 1, seed)
        return ops.clip(draws, 1, cap)
    mu = math.log(mean_depth) - _LOGNORMAL_SIGMA ** 2 / 2
    rate = ops.exp(mu + _LOGNORMAL_SIGMA * keras.random.normal((num,), seed=seed))
    return ops.minimum(_poisson(rate, cap - 1, seed) + 1, cap)


def truncated_normal_3sigma(shape, stddev=1.0, seed=None, dtype="float32"):
    """N(0, stddev²) truncated to [−3·stddev, 3·stddev] (inverse CDF; Keras'
    own `truncated_normal` cuts at 2σ)."""
    lo = 0.5 * (1.0 + math.erf(-3.0 / math.sqrt(2.0)))  # Φ(−3)
    u = keras.random.uniform(shape, minval=lo, maxval=1.0 - lo, seed=seed)
    z = math.sqrt(2.0) * ops.erfinv(2.0 * u - 1.0)
    return ops.cast(ops.clip(z, -3.0, 3.0) * stddev, dtype)


@keras.saving.register_keras_serializable(package="rearec_keras")
class DepthRecurrentReasoning(Reasoner):
    """LARES' reasoner (see the module docstring); the `Reasoner` contract.

    Args:
        hidden_dim, num_heads, intermediate_dim: the blocks' sizes.
        num_pre_layers / num_core_layers: Transformer layers of the
            pre-block (run once) and of the shared core block (run k times).
            Official run scripts: 2 / 2.
        mean_depth: `k̄`, the evaluation depth and the sampler's centre
            (official: 4; RecBole 3.0: 3).
        depth_sampler: one of `DEPTH_SAMPLERS` (training depth per call).
        adapter: one of `ADAPTERS`.
        state_init: `T_0`: `normal` (ω·TruncNormal(0, σ) in training and
            evaluation, as released: inference is stochastic),
            `normal_zero` (noise in training, zeros in evaluation) or `zero`.
        state_std / state_scale: σ and ω (official 1 and 3).
        norm_first: pre-LN blocks (RecBole 3.0); default post-LN (official).
        dropout: hidden and attention dropout (the official code forces them
            equal).
        input_layer_norm / input_dropout: LN_1 and the dropout on the item
            inputs (default: `dropout`).
        layer_norm_epsilon: every LayerNorm's epsilon.
        seed: seed of the depth and `T_0` draws.

    Call: `reasoner(item_inputs, padding_mask, steps=None, training=None,
    depth=None)`. `steps` fixes the depth (evaluation default: `mean_depth`);
    in training without `steps`, `depth` (an int or a scalar tensor) or a
    fresh draw of the sampler. Returns `{"states": [B, k + 1, d]` (step 0 is
    the pre-block's last position, step i is `T_i`'s), `"sequence_states":
    T_k [B, L, d]`, and, when the depth is a tensor in a compiled graph,
    `"step_mask"` `[B, cap + 1]` (the steps beyond the drawn depth are
    masked; pooling reads the last valid one)}.
    """

    def __init__(
        self,
        hidden_dim,
        num_heads=2,
        intermediate_dim=256,
        num_pre_layers=2,
        num_core_layers=2,
        mean_depth=4,
        depth_sampler="poisson_lognormal",
        adapter="add",
        state_init="normal",
        state_std=1.0,
        state_scale=3.0,
        norm_first=False,
        dropout=0.5,
        input_layer_norm=True,
        input_dropout=None,
        layer_norm_epsilon=1e-12,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, 1)
        self.num_heads = check_int("num_heads", num_heads, 1)
        self.intermediate_dim = check_int("intermediate_dim", intermediate_dim, 1)
        self.num_pre_layers = check_int("num_pre_layers", num_pre_layers, 1)
        self.num_core_layers = check_int("num_core_layers", num_core_layers, 1)
        self.mean_depth = check_int("mean_depth", mean_depth, 1)
        self.depth_sampler = check_choice("depth_sampler", depth_sampler, DEPTH_SAMPLERS)
        self.adapter = check_choice("adapter", adapter, ADAPTERS)
        self.state_init = check_choice("state_init", state_init, STATE_INITS)
        self.state_std = check_float("state_std", state_std, 0.0)
        self.state_scale = check_float("state_scale", state_scale, 0.0)
        self.norm_first = bool(norm_first)
        self.dropout = check_rate("dropout", dropout)
        self.input_layer_norm = bool(input_layer_norm)
        self.input_dropout = self.dropout if input_dropout is None else check_rate(
            "input_dropout", input_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.seed = seed
        self.reasoning_steps = self.mean_depth
        self.max_train_depth = depth_cap(self.depth_sampler, self.mean_depth)
        blocks = dict(hidden_dim=hidden_dim, num_heads=num_heads,
                      intermediate_dim=intermediate_dim, dropout=dropout,
                      attention_dropout=dropout, layer_norm_epsilon=layer_norm_epsilon,
                      norm_first=norm_first, dtype=self.dtype_policy)
        self.pre_block = TransformerEncoder(num_pre_layers, name="pre_block", **blocks)
        self.core_block = TransformerEncoder(num_core_layers, name="core_block", **blocks)
        self.input_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="input_norm")
        self.input_drop = keras.layers.Dropout(self.input_dropout, dtype=self.dtype_policy,
                                               name="input_dropout")
        self.step_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="step_norm")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.adapter_dense = None
        if self.adapter == "concat":
            self.adapter_dense = keras.layers.Dense(
                hidden_dim, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                dtype=self.dtype_policy, name="adapter")

    @property
    def max_steps(self):
        return None  # any depth at test time, no new weights

    def build(self, item_inputs_shape, padding_mask_shape=None):
        shape = (None, None, self.hidden_dim)
        for layer in (self.pre_block, self.core_block, self.input_norm, self.step_norm):
            layer.build(shape)
        if self.adapter_dense is not None:
            self.adapter_dense.build((None, None, 2 * self.hidden_dim))
        if self.adapter == "linear":
            self.adapter_logit = self.add_weight(shape=(), initializer="zeros",
                                                 name="adapter_logit")
        self.built = True

    # ------------------------------------------------------------------
    def sample_depth(self):
        """One training depth (a scalar int32 tensor) from the sampler."""
        return sample_depths(self.depth_sampler, self.mean_depth, 1, self.seed_generator)[0]

    def initial_state(self, like, training):
        if self.state_init == "zero" or (self.state_init == "normal_zero" and not training):
            return ops.zeros_like(like)
        noise = truncated_normal_3sigma(ops.shape(like), self.state_std, self.seed_generator,
                                        dtype=like.dtype)
        return noise * ops.cast(self.state_scale, like.dtype)

    def _adapt(self, state, injected):
        if self.adapter == "add":
            return (state + injected) / 2.0
        if self.adapter == "concat":
            return self.adapter_dense(ops.concatenate([state, injected], axis=-1))
        gate = ops.cast(ops.sigmoid(self.adapter_logit), state.dtype)
        return gate * state + (1.0 - gate) * injected

    def core_step(self, state, injected, mask, training):
        out, _ = self.core_block(self.step_norm(self._adapt(state, injected)),
                                 attention_mask=mask, training=training)
        return out

    def call(self, item_inputs, padding_mask, steps=None, training=None, depth=None):
        x = item_inputs
        if self.input_layer_norm:
            x = self.input_norm(x)
        x = self.input_drop(x, training=training)
        mask = item_attention_mask(padding_mask, "causal")
        injected, _ = self.pre_block(x, attention_mask=mask, training=training)
        state = self.initial_state(injected, bool(training))
        if steps is None:
            steps = depth if training else self.mean_depth
            if steps is None:
                steps = self.sample_depth()
        steps = _as_python_int(steps)
        reads = [injected[:, -1]]
        if isinstance(steps, int):
            for _ in range(steps):
                state = self.core_step(state, injected, mask, training)
                reads.append(state[:, -1])
            return {"states": ops.stack(reads, axis=1), "sequence_states": state}
        # A depth known only when the graph runs: unroll to the sampler's
        # cap; steps beyond the depth keep the state (TensorFlow skips
        # their work with a conditional, other backends compute and drop it).
        depth_tensor = ops.cast(steps, "int32")
        for i in range(self.max_train_depth):
            active = ops.less(i, depth_tensor)
            state = _run_if(active, lambda s: self.core_step(s, injected, mask, training), state)
            reads.append(state[:, -1])
        batch = ops.shape(injected)[0]
        valid = ops.less_equal(ops.arange(self.max_train_depth + 1), depth_tensor)
        step_mask = ops.broadcast_to(ops.expand_dims(valid, 0),
                                     (batch, self.max_train_depth + 1))
        return {"states": ops.stack(reads, axis=1), "sequence_states": state,
                "step_mask": step_mask}

    def halting_call(self, item_inputs, padding_mask, halt, steps=None):
        """Evaluation with per-row halting, as
        `RecurrentReasoning.halting_call`: after core step `t` (1 <= t <
        steps) `halt(t, previous, state, memo)` decides on the last-position
        states of the rows still running; stopped rows leave the batch
        (their sequence states, pre-block output and mask are dropped).
        With `state_init="normal"` each call draws its own `T_0`, so a row
        matches its own run alone only with `normal_zero` or `zero`.

        Returns:
            `(states [B, steps + 1, d], halt_steps [B])` tensors (traceable
            in a TensorFlow graph, as `RecurrentReasoning.halting_call`).
        """
        from rearec_keras.halting import HaltingRows

        steps = self.mean_depth if steps is None else _as_python_int(steps)
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"halting needs a depth >= 1, got {steps!r}")
        x = item_inputs
        if self.input_layer_norm:
            x = self.input_norm(x)
        mask = item_attention_mask(padding_mask, "causal")
        injected, _ = self.pre_block(x, attention_mask=mask, training=False)
        state = self.initial_state(injected, False)
        rows = HaltingRows(injected[:, -1], steps)
        previous, memo = injected[:, -1], None
        for s in range(1, steps + 1):
            if rows.done:
                break
            state = self.core_step(state, injected, mask, False)
            current = state[:, -1]
            rows.record(current)
            if s == steps:
                break
            stop, memo = halt(s, previous, current, memo)
            (state, injected, mask, previous), memo = rows.drop(
                stop, s, (state, injected, mask, current), memo)
        return rows.result()

    def get_config(self):
        config = super().get_config()
        config.update({
            "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim, "num_pre_layers": self.num_pre_layers,
            "num_core_layers": self.num_core_layers, "mean_depth": self.mean_depth,
            "depth_sampler": self.depth_sampler, "adapter": self.adapter,
            "state_init": self.state_init, "state_std": self.state_std,
            "state_scale": self.state_scale, "norm_first": self.norm_first,
            "dropout": self.dropout, "input_layer_norm": self.input_layer_norm,
            "input_dropout": self.input_dropout, "layer_norm_epsilon": self.layer_norm_epsilon,
            "seed": self.seed,
        })
        return config


def _as_python_int(value):
    """`value` as a Python int when it is known now (an int, a numpy value,
    an eager tensor), else the tensor itself."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    from rearec_keras.utils.tensors import concrete_values

    known = concrete_values(value)
    return value if known is None else int(np.asarray(known).reshape(()))


def _run_if(active, fn, state):
    if keras.backend.backend() == "tensorflow":
        return ops.cond(active, lambda: fn(state), lambda: state)
    return ops.where(active, fn(state), state)
