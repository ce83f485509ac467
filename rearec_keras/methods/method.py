"""`Method` and `Phase`: what a learning method owns.

Importing this module does not import Keras (the registry is read by
`RunConfig` and the command line); the losses load when a model is built.

A learning method is a class registered under a name (`"erl"`). It owns,
in one place:

- `settings`: its hyperparameters (`Setting` objects: name, default, range,
  paper symbol, one line of documentation);
- `loss(model, x, y, outputs, sample_weight)`: the training loss of a batch
  (it may run more forward passes of `model`: `x` is given);
- `pooling` / `pool(states, step_mask)`: how the user vector is read from
  the reasoning states `[B, S, d]`, with an optional per-row mask of the
  valid steps (rows that halted early);
- `phases(model)`: the training phases (`Phase`), each with its own loss
  options, forward options and optionally its own `train_step`;
- `forward_options(model, phase)`: keyword arguments of the reasoner's call
  in training (e.g. PRL's noisy twin);
- `reasoner_options`: constructor options of the standard reasoner (the
  `naive` ablation turns the reasoning position embedding off);
- `search_space`: the paper's grid, `{setting: [values]}`, which
  `rearec-keras tune` uses by default.

The model (`ReaRecModel`) holds one instance, `model.method`, made from the
model's settings. See `docs/architecture.md` for a worked example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping

POOLINGS = ("last", "mean")


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of training.

    Args:
        name: shown in logs and stored with the model (`model.phase`).
        epochs: how many epochs the phase lasts; None: until training
            ends (a later phase is then entered only by `set_phase`, as
            the runner's staged phases do: `Method.run_phases`). Phases switch at
            epoch boundaries (`PhaseSchedule`, added by `model.fit`), which
            retraces the train function so each phase has a static graph.
        options: read by the method's `loss` / `forward_options` (e.g.
            `{"noise": True}` for PRL's noisy twin); `"main_forward": False`
            skips the model's own training forward pass (the loss runs
            its own, e.g. LARES' RPT rollouts; `outputs` is then `{}`).
        train_step: optional `train_step(model, *args)` replacing Keras'
            default for this phase. It receives the backend's own arguments
            (`data` on TensorFlow and PyTorch, `(state, data)` on JAX), so a
            backend-agnostic method puts its work into `loss` instead.
    """

    name: str
    epochs: int | None = None
    options: Mapping = dataclasses.field(default_factory=dict)
    train_step: Callable | None = None


def phase_at(phases, epoch: int) -> Phase:
    """The phase that runs epoch `epoch` (0-based)."""
    start = 0
    for phase in phases:
        if phase.epochs is None or epoch < start + phase.epochs:
            return phase
        start += phase.epochs
    return phases[-1]


class Method:
    """Base class of learning methods (register subclasses with
    `rearec_keras.methods.register_method`).

    The default is next-item cross-entropy on the last reasoning state and
    last-state inference: the `rpe` recipe. With `reasoning_steps=0` every
    method must equal the base model (the defaults here do).

    Class attributes:
        name: registry key (`--learning NAME`).
        title: display name (`"ERL"`); default `name.upper()`.
        description: one line, shown in the docs and `--help`.
        settings: tuple of `Setting`.
        reasons: False for a method that trains the backbone alone (K = 0).
        pooling: `"last"` or `"mean"`, the inference read-out of the states.
        reasoner_options: constructor options of the standard reasoner.
        search_space: the paper's grid.
        max_reasoning_steps: the largest K the method trains (None: no
            bound); `check_model` refuses more.
        model_defaults: the method's own defaults for model settings
            (e.g. LARES: `reasoning_steps=4`, `base_temperature=1.0`), used
            by `RunConfig` for the settings a user does not give.
    """

    name: str = ""
    title: str | None = None
    description: str = ""
    settings: tuple = ()
    reasons: bool = True
    pooling: str = "last"
    reasoner_options: Mapping = {}
    search_space: Mapping = {}
    # Our choice: ReaRec appends one token per step and the papers train
    # K <= 3; K = 32 is already ~10x the paper's depth and cost.
    max_reasoning_steps: int | None = 32
    model_defaults: Mapping = {}

    @classmethod
    def check_model(cls, values: Mapping, reasoning_steps: int, base_temperature: float):
        """Refuses model settings the method cannot train, naming them
        (`ValueError`): `values` are the method's own settings. Called by
        the model and by `RunConfig` before anything runs."""
        limit = cls.max_reasoning_steps
        if cls.reasons and limit is not None and reasoning_steps > limit:
            raise ValueError(
                f"reasoning_steps={reasoning_steps} is beyond what learning={cls.name!r} "
                f"trains: at most {limit} (every step adds a token to the sequence; the "
                "papers use K <= 3)."
            )

    def __init__(self, **values):
        for setting in self.settings:
            value = values.pop(setting.name, setting.default)
            setattr(self, setting.name, setting.check(value))
        if values:
            known = ", ".join(s.name for s in self.settings) or "none"
            raise ValueError(
                f"learning={self.name!r} has no setting(s) {', '.join(sorted(values))} "
                f"(its settings: {known})"
            )
        from rearec_keras.losses import MultiStepCrossEntropy

        self.ce = MultiStepCrossEntropy(name="step_ce")

    @classmethod
    def display_name(cls) -> str:
        return cls.title or cls.name.upper()

    @classmethod
    def setting_names(cls) -> tuple:
        return tuple(s.name for s in cls.settings)

    def get_config(self) -> dict:
        """The values of this method's settings (saved with the model)."""
        return {s.name: getattr(self, s.name) for s in self.settings}

    # ------------------------------------------------------------------
    def make_reasoner(self, model, encoder=None):
        """The method's own reasoner layer, or None for the standard one
        (ReaRec's loop over `encoder`)."""
        return None

    @classmethod
    def training_batches(cls, part, batch_size, *, shuffle, seed, drop_remainder):
        """The training batches of a split part when the method needs more
        than `(histories, targets)` (e.g. LARES' same-target positives);
        None: `part.as_dataset(...)`."""
        return None

    @staticmethod
    def split_inputs(x):
        """`(histories, extra or None)` of a training batch's inputs: the
        histories, and what `training_batches` added (a tuple's second
        entry or a dict's `"positives"`)."""
        if isinstance(x, (tuple, list)):
            return x[0], (x[1] if len(x) > 1 else None)
        if isinstance(x, dict):
            return x["histories"], x.get("positives")
        return x, None

    def build(self, model):
        """Creates what depends on the model (K, τ): e.g. the losses (and
        layers the method adds to the model, under its dtype policy)."""

    def build_weights(self, model):
        """Builds the layers `build` added to the model (called once the
        model's own weights exist)."""

    def on_phase_start(self, model, phase):
        """Called when training enters `phase` (a switch at an epoch
        boundary, also after a resume): e.g. snapshot a reference model,
        change the learning rate."""

    def on_epoch_begin(self, model, epoch):
        """Called at the start of every training epoch, after the phase
        switch (e.g. DTRec's reclustering). `model.fit` adds the callback
        that calls it when a method overrides it. An override that also
        takes `verbose` receives the fit's (0 silent, 1 a live bar in a
        terminal, 2 one line; see `rearec_keras.utils.progress`)."""

    def phases(self, model) -> tuple:
        """The training phases (default: one phase for the whole run)."""
        return (Phase("train"),)

    @classmethod
    def run_phases(cls, values: Mapping) -> tuple:
        """Phase names `rearec-keras train` runs as separate stages, in
        order, or () for one `fit` through `phases`, given the method's
        setting values. Each stage is its own early-stopped, resumable fit,
        started from the previous stage's best model (e.g. LARES:
        `("spt", "rpt")`)."""
        return ()

    @classmethod
    def trial_settings(cls, values: Mapping, epochs: int) -> dict:
        """Settings a tuning trial overrides, given the method's setting
        values and the trial's epochs: a trial trains in one `fit`, so a
        method with staged phases (`run_phases`) says how one fit covers
        them (e.g. LARES: RPT after half the epochs). Default: none."""
        return {}

    def phase_data(self, model, phase, part):
        """The training rows of stage `phase`, chosen with `model` (the
        previous stage's best): None for all of `part`, else
        `(kept_row_indices, report)`, the report a JSON-ready dict saying
        how many rows were kept and why (saved in the run directory)."""
        return None

    def forward_options(self, model, phase: Phase) -> dict:
        """Keyword arguments of the reasoner's call in a training step."""
        return {}

    def loss(self, model, x, y, outputs, sample_weight=None):
        """The training loss of a batch: the base model's loss at K = 0 (so
        every method is the base model there), else `reasoning_loss`.
        Override `reasoning_loss`; override `loss` only to change K = 0 too.

        Args:
            model: the `ReaRecModel` (its `training_logits(y, table)` gives
                the full or sampled catalog logits).
            x: the histories of the batch (to run extra forward passes).
            y: the targets.
            outputs: what `model(x, training=True)` returned: `"states"`
                `[B, K+1, d]` and what `forward_options` asked for.
            sample_weight: optional per-row weights.
        """
        if model.reasoning_steps == 0:
            return self.last_step_loss(model, y, outputs, sample_weight)
        return self.reasoning_loss(model, x, y, outputs, sample_weight)

    def reasoning_loss(self, model, x, y, outputs, sample_weight=None):
        """The loss with K > 0 steps (default: CE of the last state)."""
        return self.last_step_loss(model, y, outputs, sample_weight)

    def last_step_loss(self, model, y, outputs, sample_weight=None):
        """Cross-entropy of the last state at τ (the base model's loss)."""
        tau = model.base_temperature
        logits = model.training_logits(y, outputs.get("item_table"))
        last, targets = logits(outputs["states"][:, -1:], tau)
        return self.ce(targets, last / tau, sample_weight=sample_weight)

    def pool(self, states, step_mask=None):
        """The inference state `[B, d]` of states `[B, S, d]`.

        Args:
            step_mask: optional `[B, S]` mask of the valid steps of each
                row (a row that halted after step t has steps 0..t valid);
                `"last"` reads each row's last valid step, `"mean"` averages
                its valid steps.
        """
        from keras import ops

        if step_mask is None:
            if self.pooling == "mean":
                return ops.mean(states, axis=1)
            return states[:, -1]
        states = ops.convert_to_tensor(states)
        mask = ops.cast(step_mask, states.dtype)
        if self.pooling == "mean":
            weights = mask / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
        else:  # one-hot of the last valid step
            count = ops.cast(ops.sum(mask, axis=1), "int32")
            last = ops.maximum(count - 1, 0)
            weights = ops.cast(
                ops.equal(ops.arange(ops.shape(states)[1])[None, :], last[:, None]),
                states.dtype,
            )
        return ops.sum(states * weights[:, :, None], axis=1)

    def __repr__(self):
        values = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({values})"
