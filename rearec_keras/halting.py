"""Per-user halting signals and rule-based halting (DTRec's Adaptive
Reasoning Halting, ManCAR's KL rule), for any reasoning model.

After each reasoning step `t >= 1` every user gets three signals in [0, 1]
(DTRec's confidence, consistency and convergence) and one distance:

- confidence `κ_t`: the largest probability of the step's item distribution
  `softmax(logits_t / τ)` (`confidence="max"`), or one minus its entropy
  over `log N` (`confidence="entropy"`);
- consistency `ρ_t`: the share of the top-k items of step `t` that are in
  the top-k of step `t − 1`;
- convergence `ν_t`: `(1 + cos(r_t, r_{t−1})) / 2` of the reasoning states;
- `kl_t`: `KL(p_t ‖ p_{t−1})` between adjacent steps' item distributions.

Rules (`halting_steps`), the first step `t` that meets them, else the last:

- `"all"`: `κ_t >= θ_κ and ρ_t >= θ_ρ and ν_t >= θ_ν`;
- `"weighted"`: `w_κ κ_t + w_ρ ρ_t + w_ν ν_t >= θ`;
- `"kl"` (parameter-free, ManCAR-style): `kl_t <= θ_kl`;
- `"learned"`: a model's halting head (DTRec) maps the three signals to a
  halting probability `λ_t` (`signals["halting_probability"]`, added by
  the model): `λ_t >= θ` (default 0.5).

Thresholds above 1 (`all`, `weighted` with weights summing to 1) or below 0
(`kl`) are never met: every user runs to the last step. Thresholds of 0
(`all`, `weighted`) or `inf` (`kl`) halt every user at step 1.

Logits are `[B, S, N + 1]` for the states `r_0 .. r_{S−1}` (column 0, PAD,
is ignored); states `[B, S, d]`. Step 0 has no signals. All math is
`keras.ops`; signals come back `[B, S − 1]` for steps 1..S−1.
"""

import math

from rearec_keras.utils.choices import CONFIDENCES
from rearec_keras.utils.choices import HALTING_RULES

# Defaults of the rule-based modes (DTRec spec §5, placeholders to tune).
DEFAULT_THRESHOLDS = {
    "all": {"confidence": 0.2, "consistency": 0.8, "convergence": 0.95},
    "weighted": {"threshold": 0.8, "weights": (1 / 3, 1 / 3, 1 / 3)},
    "kl": {"threshold": 0.05},
    "learned": {"threshold": 0.5},
}
SIGNALS = ("confidence", "consistency", "convergence", "kl")


def _item_log_probs(logits, temperature):
    from keras import ops

    logits = ops.cast(logits, "float32")[..., 1:] / temperature  # PAD excluded
    return ops.log_softmax(logits, axis=-1)


def halting_signals(logits, states, top_k=10, temperature=1.0, confidence="max"):
    """The signals of steps 1..S−1 (see the module docstring).

    Args:
        logits: `[B, S, N + 1]` scores of the states `r_0 .. r_{S−1}`.
        states: `[B, S, d]` the states themselves.
        top_k: the cut-off of the consistency signal.
        temperature: τ of the item distributions.
        confidence: `"max"` or `"entropy"`.

    Returns:
        A dict of `[B, S − 1]` float32 tensors, keys `SIGNALS`.
    """
    from keras import ops

    if confidence not in CONFIDENCES:
        raise ValueError(f"confidence must be one of {CONFIDENCES}, got {confidence!r}")
    if len(logits.shape) != 3 or len(states.shape) != 3:
        raise ValueError("halting_signals needs logits [B, S, N + 1] and states [B, S, d]; got "
                         f"{tuple(logits.shape)} and {tuple(states.shape)}")
    steps, num_items = logits.shape[1], logits.shape[2] - 1
    if steps is not None and steps < 2:
        raise ValueError(f"halting needs at least one reasoning step (S >= 2 states), got S={steps}")
    if not 1 <= top_k <= num_items:
        raise ValueError(f"top_k must be in [1, {num_items}] (the catalog), got {top_k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    log_p = _item_log_probs(logits, temperature)  # [B, S, N]
    p = ops.exp(log_p)
    if confidence == "max":
        conf = ops.max(p, axis=-1)
    else:
        entropy = -ops.sum(p * log_p, axis=-1)
        conf = 1.0 - entropy / max(1e-12, math.log(num_items))
    _, top = ops.top_k(ops.cast(logits, "float32")[..., 1:], k=top_k)  # [B, S, k]
    same = ops.equal(ops.expand_dims(top[:, 1:], -1), ops.expand_dims(top[:, :-1], -2))
    consistency = ops.sum(ops.cast(ops.any(same, axis=-1), "float32"), axis=-1) / top_k
    s = ops.cast(states, "float32")
    norm = ops.sqrt(ops.sum(s * s, axis=-1) + 1e-12)
    cos = ops.sum(s[:, 1:] * s[:, :-1], axis=-1) / (norm[:, 1:] * norm[:, :-1])
    convergence = ops.clip((1.0 + cos) / 2.0, 0.0, 1.0)
    kl = ops.sum(p[:, 1:] * (log_p[:, 1:] - log_p[:, :-1]), axis=-1)
    return {"confidence": conf[:, 1:], "consistency": consistency,
            "convergence": convergence, "kl": ops.maximum(kl, 0.0)}


def check_rule(mode, thresholds=None) -> dict:
    """The complete thresholds of `mode` (defaults filled in), checked."""
    if mode not in HALTING_RULES:
        raise ValueError(f"halting mode must be one of {HALTING_RULES}, got {mode!r}")
    values = {**DEFAULT_THRESHOLDS[mode], **(thresholds or {})}
    unknown = set(values) - set(DEFAULT_THRESHOLDS[mode])
    if unknown:
        raise ValueError(f"halting mode {mode!r} takes {sorted(DEFAULT_THRESHOLDS[mode])}, "
                         f"got unknown {sorted(unknown)}")
    if mode == "weighted":
        weights = tuple(float(w) for w in values["weights"])
        if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("weighted halting needs 3 weights >= 0 (confidence, consistency, "
                             f"convergence) with a positive sum, got {values['weights']}")
        values["weights"] = weights
    for name, value in values.items():
        if name == "weights":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(f"halting threshold {name!r} must be a number, got {value!r}")
    return values


def halt_mask(signals, mode="all", thresholds=None):
    """`[B, S − 1]` booleans: whether step t meets the rule."""
    from keras import ops

    t = check_rule(mode, thresholds)
    if mode == "all":
        return ops.logical_and(
            ops.logical_and(signals["confidence"] >= t["confidence"],
                            signals["consistency"] >= t["consistency"]),
            signals["convergence"] >= t["convergence"])
    if mode == "weighted":
        wk, wr, wv = t["weights"]
        score = (wk * signals["confidence"] + wr * signals["consistency"]
                 + wv * signals["convergence"]) / (wk + wr + wv)
        return score >= t["threshold"]
    if mode == "learned":
        if "halting_probability" not in signals:
            raise ValueError("halting mode 'learned' needs a model with a halting head "
                             "(DTRec with halting_head=True)")
        return signals["halting_probability"] >= t["threshold"]
    return signals["kl"] <= t["threshold"]


def signal_features(signals):
    """`[..., 3]`: confidence, consistency and convergence stacked, the
    input of a halting head."""
    from keras import ops

    return ops.stack([signals["confidence"], signals["consistency"], signals["convergence"]],
                     axis=-1)


def exit_distribution(halt_probabilities):
    """`[B, T]` probabilities of exiting at steps 1..T from per-step halting
    probabilities `λ` `[B, T]` (ACT/PonderNet): `p_t = λ_t Π_{s<t}(1 − λ_s)`,
    and the last step takes the rest, so each row sums to 1."""
    from keras import ops

    lam = ops.cast(halt_probabilities, "float32")
    keep = ops.cumprod(1.0 - lam, axis=1)  # Π_{s<=t}(1 − λ_s)
    before = ops.concatenate([ops.ones_like(keep[:, :1]), keep[:, :-1]], axis=1)
    p = lam * before
    last = before[:, -1:]  # the rest of the mass at the last step
    return ops.concatenate([p[:, :-1], last], axis=1)


def halting_steps(signals, mode="all", thresholds=None):
    """`[B]` int32: each user's halting step in 1..S−1, the first step that
    meets the rule, else the last."""
    from keras import ops

    met = ops.cast(halt_mask(signals, mode, thresholds), "int32")  # [B, S - 1]
    last = ops.shape(met)[1]
    index = ops.arange(1, last + 1, dtype="int32")
    # The first met step, or `last` when none is.
    first = ops.min(ops.where(met > 0, index, last), axis=-1)
    return ops.cast(first, "int32")


def halted_states(states, steps):
    """`[B, d]`: each user's state at its halting step (`states` `[B, S, d]`)."""
    from keras import ops

    index = ops.reshape(ops.cast(steps, "int32"), (-1, 1, 1))
    index = ops.broadcast_to(index, (ops.shape(states)[0], 1, ops.shape(states)[2]))
    return ops.squeeze(ops.take_along_axis(states, index, axis=1), 1)


def compute_saving(steps, max_steps) -> float:
    """`1 − Σ_u steps_u / (n · max_steps)`: the share of reasoning steps not
    run against fixed depth (0.0 when every user runs `max_steps`)."""
    import numpy as np

    steps = np.asarray(steps)
    if steps.size == 0:
        return 0.0
    if max_steps < 1 or steps.min() < 1 or steps.max() > max_steps:
        raise ValueError(f"halting steps must lie in [1, {max_steps}], got "
                         f"[{steps.min()}, {steps.max()}]")
    return float(1.0 - steps.sum() / (steps.size * max_steps))


class HaltingRows:
    """The bookkeeping of a reasoner's halting loop, in `keras.ops` (eager
    on every backend, and traceable in a TensorFlow graph, where the batch
    dimension is dynamic: that is how the SavedModel export halts).

    `record(state)` stores the states `[a, d]` of the rows still running as
    the next step's column; `drop(stop, step, tensors, memo)` records `step`
    as the halting step of the rows `stop` marks and returns `(tensors,
    memo)` for the rows still running (`tensors`: any structure with the
    batch on axis 0, e.g. a KV cache), so stopped rows cost nothing more.
    `done` says, when it is known now (eagerly), that no row is left.
    `result()` is `(states [B, steps + 1, d] float32, zeros after a row's
    halting step; halt_steps [B] int32 in 1..steps)`.
    """

    def __init__(self, first_state, steps):
        from keras import ops

        first = ops.cast(first_state, "float32")
        self.steps = steps
        self.batch = ops.shape(first)[0]
        self.dim = ops.shape(first)[1]
        self.columns = [first]
        self.active = ops.arange(self.batch, dtype="int32")
        self.halt_steps = ops.full((self.batch,), steps, dtype="int32")

    @property
    def done(self) -> bool:
        from keras import ops

        running = ops.shape(self.active)[0]
        return isinstance(running, int) and running == 0

    def _to_batch(self, values, shape):
        from keras import ops

        return ops.scatter(ops.expand_dims(self.active, 1), values, shape)

    def record(self, state):
        from keras import ops

        self.columns.append(self._to_batch(ops.cast(state, "float32"), (self.batch, self.dim)))

    def drop(self, stop, step, tensors, memo=None):
        import keras
        from keras import ops

        stop = ops.reshape(ops.cast(stop, "bool"), (-1,))
        stopped = self._to_batch(ops.cast(stop, "int32"), (self.batch,)) > 0
        self.halt_steps = ops.where(stopped, step, self.halt_steps)
        keep = ops.nonzero(ops.logical_not(stop))[0]
        self.active = ops.take(self.active, keep, axis=0)
        tensors = keras.tree.map_structure(lambda t: ops.take(t, keep, axis=0), tensors)
        memo = None if memo is None else ops.take(memo, keep, axis=0)
        return tensors, memo

    def result(self):
        from keras import ops

        columns = self.columns + [ops.zeros_like(self.columns[0])] * (
            self.steps + 1 - len(self.columns))
        return ops.stack(columns, axis=1), self.halt_steps
