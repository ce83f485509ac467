"""`dtrec`: DTRec's Hierarchical Process Supervision (HPS) on ReaRec's
reasoning loop (no public code exists; every choice below is ours, after
`shared/design/dtrec.md` §3–4).

Step `t` of `T` (states `r_0 .. r_T`) is trained towards the level-`t`
prototype of the target: `k_0 < ... < k_T = N` prototypes
(`rearec_keras.prototypes.prototype_sizes`), the K-means centroids of the
item table (PAD excluded), reclustered at the start of every HPS epoch
(K-means++ the first time, then warm-started from the stored centroids,
fixed seed); centroids and labels are constant within an epoch and saved
with the model (a resumed run warm-starts from them).

    L = Σ_{t<T} w·CE(r_t C_tᵀ / τ_p, a_t(v⁺))  +  item CE at every step
        (`item_ce_all_steps=True`, so a state that halts early still ranks
        items; else the item CE of the last step, which is level T)

The first `hps_warmup_epochs` epochs train the item CE alone (phase
`warmup`), from a table that is still random. With `halting_head=True` a
small MLP maps each step's three halting signals (confidence, consistency,
convergence; `rearec_keras.halting`) to a halting probability λ_t, trained
jointly with `halting_loss` (expected CE over exit steps + β_h·E[t]).
Inference scores with the last state, or stops each user early:
`score_with_halting(h, "learned")` (λ_t >= 0.5) or any rule mode.
"""

from rearec_keras.methods.common import REASONING_STEPS_GRID
from rearec_keras.methods.method import Method
from rearec_keras.methods.method import Phase
from rearec_keras.methods.registry import register_method
from rearec_keras.methods.setting import Setting
from rearec_keras.utils.choices import PROTOTYPE_SCHEDULES


@register_method
class DTRecMethod(Method):
    """DTRec's HPS (see the module docstring)."""

    name = "dtrec"
    title = "DTRec"
    description = ("coarse-to-fine process supervision: step t predicts the target's level-t "
                   "K-means prototype of the item table; item CE at every step")
    pooling = "last"
    # The spec's T_max = 3 (RunConfig and the DTRec class read it).
    model_defaults = {"reasoning_steps": 3}
    settings = (
        Setting("prototype_schedule", "geometric", "how DTRec's prototype counts grow from "
                "min_prototypes to the catalog", choices=PROTOTYPE_SCHEDULES),
        Setting("min_prototypes", 16, "DTRec's prototypes at step 0 (k_min)", symbol="k_min",
                minimum=1),
        Setting("prototype_sizes", None, "explicit prototype counts of steps 0..K-1, e.g. "
                "'16,128' (the items are level K)", kind=str, optional=True),
        Setting("prototype_temperature", None, "τ_p of the prototype softmax (None: the base "
                "temperature)", symbol="τ_p", kind=float, minimum=0.0, exclusive_minimum=True,
                optional=True),
        Setting("hps_weight", 1.0, "weight of DTRec's prototype terms", symbol="w",
                minimum=0.0),
        Setting("item_ce_all_steps", True, "DTRec adds the item CE at every step (a state that "
                "halts early still ranks items)"),
        Setting("hps_warmup_epochs", 1, "epochs of item CE alone before DTRec's prototypes",
                minimum=0),
        Setting("kmeans_iterations", 20, "the most Lloyd iterations of each reclustering",
                minimum=1),
        Setting("kmeans_tolerance", 0.001, "a reclustering stops once at most this share of the "
                "items changed prototype in an iteration (0: only when none did)", minimum=0.0,
                maximum=1.0, exclusive_maximum=True),
        Setting("kmeans_seeding_sample", 10000, "K-means++ seeds the first clustering on this "
                "many random items (at least k; later epochs warm-start)", minimum=1),
        Setting("halting_head", True, "DTRec learns when to stop: an MLP over the three "
                "halting signals, trained with the expected loss over exit steps"),
        Setting("halting_units", 16, "hidden units of DTRec's halting head", minimum=1),
        Setting("ponder_weight", 0.01, "weight of the expected number of steps in DTRec's "
                "halting objective", symbol="β_h", minimum=0.0),
    )
    search_space = {"hps_weight": [0.1, 0.5, 1.0], "min_prototypes": [8, 16, 32],
                    "reasoning_steps": list(REASONING_STEPS_GRID)}

    @classmethod
    def check_model(cls, values, reasoning_steps, base_temperature):
        sizes = values.get("prototype_sizes")
        if sizes is not None:
            _parse_sizes(sizes)

    def levels(self, model) -> tuple:
        from rearec_keras.prototypes import prototype_sizes

        sizes = None if self.prototype_sizes is None else _parse_sizes(self.prototype_sizes)
        return prototype_sizes(model.num_items, model.reasoning_steps, self.prototype_schedule,
                               self.min_prototypes, sizes)

    def phases(self, model):
        hps = Phase("hps", options={"hps": True})
        if self.hps_warmup_epochs > 0:
            return (Phase("warmup", epochs=self.hps_warmup_epochs), hps)
        return (hps,)

    def build(self, model):
        import keras

        from rearec_keras.losses import MultiStepCrossEntropy

        K = model.reasoning_steps
        if K == 0:
            return
        if model.negatives != "full":
            raise ValueError("DTRec's prototypes score against the whole table "
                             f"(negatives='full'); got negatives={model.negatives!r}.")
        self.sizes = self.levels(model)  # checks the levels before any weight exists
        self.item_ce_steps = MultiStepCrossEntropy(
            temperatures=[model.base_temperature] * (K + 1), variant="paper",
            name="item_ce_all_steps")
        self.prototype_ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                       name="hps_ce")
        model.prototypes = [
            model.add_weight(shape=(k, model.hidden_dim), initializer="zeros", trainable=False,
                             name=f"prototypes_{t}")
            for t, k in enumerate(self.sizes[:-1])]
        model.prototype_labels = [
            model.add_weight(shape=(model.num_items + 1,), initializer="zeros", dtype="int32",
                             trainable=False, name=f"prototype_labels_{t}")
            for t in range(K)]
        model.prototypes_ready = model.add_weight(shape=(), initializer="zeros",
                                                  trainable=False, name="prototypes_ready")
        if self.halting_head:
            model.halting_network = keras.Sequential([
                keras.layers.Dense(self.halting_units, activation="relu", name="hidden"),
                keras.layers.Dense(1, activation="sigmoid", name="probability"),
            ], name="halting_head")

    def build_weights(self, model):
        if model.reasoning_steps and self.halting_head:
            model.halting_network.build((None, 3))

    def halting_probabilities(self, model, signals):
        """λ `[B, T]` of the halting head over `halting.halting_signals`."""
        from keras import ops

        from rearec_keras.halting import signal_features

        features = signal_features(signals)  # [B, T, 3]
        flat = model.halting_network(ops.reshape(features, (-1, 3)))
        return ops.reshape(flat, ops.shape(features)[:-1])

    def on_epoch_begin(self, model, epoch, verbose=0):
        if model.reasoning_steps and model.phase.options.get("hps"):
            self.recluster(model, seed=epoch, verbose=verbose)

    def recluster(self, model, seed=0, verbose=0):
        """K-means of the current item table (rows 1..N) at every level
        below the items; warm-started from the stored centroids once there
        are any. Returns the Lloyd iterations run per level.

        `verbose` (the fit's): 0 silent; 1 a live bar over the Lloyd
        iterations (at most `kmeans_iterations` per level; a level that
        converges sooner skips the rest) in a terminal, one summary line
        otherwise; 2 the summary line."""
        import numpy as np
        from keras import ops

        from rearec_keras.prototypes import kmeans
        from rearec_keras.utils.progress import Progress

        table = np.asarray(ops.convert_to_numpy(model.item_vectors()))[1:]
        warm = float(ops.convert_to_numpy(model.prototypes_ready)) > 0
        levels = self.sizes[:-1]
        runs = []
        label = (f"DTRec K-means ({'warm' if warm else 'cold'}): {len(table):,} items into "
                 + "/".join(f"{k:,}" for k in levels) + " prototypes")
        with Progress(len(levels) * self.kmeans_iterations, verbose, label,
                      unit="iteration") as progress:
            for t, k in enumerate(levels):
                init = np.asarray(ops.convert_to_numpy(model.prototypes[t])) if warm else None
                done = t * self.kmeans_iterations
                centroids, assignment, run = kmeans(
                    table, k, init=init, seed=seed, iterations=self.kmeans_iterations,
                    tolerance=self.kmeans_tolerance, seeding_sample=self.kmeans_seeding_sample,
                    on_iteration=lambda i, done=done: progress.update(done + i))
                model.prototypes[t].assign(centroids)
                # Row 0 (PAD) is never clustered; its label is never read.
                model.prototype_labels[t].assign(
                    np.concatenate([[0], assignment]).astype("int32"))
                runs.append(run)
                progress.update(done + self.kmeans_iterations)
            summary = (f"{sum(runs)} Lloyd iterations ("
                       + "/".join(str(r) for r in runs) + " per level)")
            progress.close(summary)
        model.prototypes_ready.assign(1.0)
        return runs

    def halting_loss(self, model, states, step_logits, targets, sample_weight=None):
        """The soft halting objective (our choice, ACT/PonderNet style): with
        λ_t from the head, exit probabilities `p_t = λ_t Π_{s<t}(1 − λ_s)`
        over steps 1..K (the last takes the rest), the loss is
        `Σ_t p_t · (CE_t + β_h · t)`: the expected item CE at the exit step
        plus a ponder cost. The signals enter the head without gradient."""
        return _halting_objective(self, model, states, step_logits, targets, sample_weight)

    def reasoning_loss(self, model, x, y, outputs, sample_weight=None):
        from keras import ops

        states = outputs["states"]  # [B, K + 1, d]
        tau = model.base_temperature
        logits = model.training_logits(y, outputs.get("item_table"))
        step_logits, targets = logits(states, tau)
        if self.item_ce_all_steps:
            loss = self.item_ce_steps(targets, step_logits, sample_weight=sample_weight)
        else:
            loss = self.ce(targets, step_logits[:, -1:] / tau, sample_weight=sample_weight)
        if self.halting_head:
            loss = loss + self.halting_loss(model, states, step_logits, targets, sample_weight)
        if not model.phase.options.get("hps") or self.hps_weight == 0:
            return loss
        tau_p = self.prototype_temperature or tau
        y = ops.cast(y, "int32")
        for t, centroids in enumerate(model.prototypes):
            labels = ops.take(model.prototype_labels[t], y, axis=0)
            scores = ops.matmul(ops.cast(states[:, t], "float32"),
                                ops.transpose(ops.cast(centroids, "float32"))) / tau_p
            loss = loss + self.hps_weight * self.prototype_ce(labels, scores,
                                                              sample_weight=sample_weight)
        return loss


def _halting_objective(method, model, states, step_logits, targets, sample_weight):
    from keras import ops

    from rearec_keras.halting import exit_distribution
    from rearec_keras.halting import halting_signals
    from rearec_keras.losses._utils import batch_mean

    tau = model.base_temperature
    K = model.reasoning_steps
    log_probs = ops.log_softmax(ops.cast(step_logits, "float32") / tau, axis=-1)
    index = ops.broadcast_to(ops.reshape(ops.cast(targets, "int32"), (-1, 1, 1)),
                             (ops.shape(log_probs)[0], K + 1, 1))
    step_ce = -ops.squeeze(ops.take_along_axis(log_probs, index, axis=-1), -1)[:, 1:]
    # The signals are inputs of the head, not paths back into the encoder.
    signals = halting_signals(ops.stop_gradient(step_logits), ops.stop_gradient(states),
                              top_k=min(10, model.num_items), temperature=tau)
    exits = exit_distribution(method.halting_probabilities(model, signals))  # [B, K]
    steps = ops.cast(ops.arange(1, K + 1), "float32")
    per_row = ops.sum(exits * (step_ce + method.ponder_weight * steps), axis=1)
    return batch_mean(per_row, sample_weight)


def _parse_sizes(text):
    try:
        sizes = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"prototype_sizes must be comma-separated integers, e.g. '16,128'; "
                         f"got {text!r}") from None
    if not sizes:
        raise ValueError("prototype_sizes is empty; give the counts of steps 0..K-1, e.g. '16,128'")
    return sizes
