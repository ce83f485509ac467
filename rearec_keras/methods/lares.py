"""`lares`: LARES' depth-recurrent latent reasoning (Liu et al., arXiv
2505.16865; official code `BishopLiu/LARES`), self-supervised pre-training.

The reasoner is `DepthRecurrentReasoning` (a pre-block, then one shared core
block applied k times to every position). `reasoning_steps` is the mean
depth k̄: the evaluation depth and the centre of the training sampler.

SPT loss per batch, three forward passes as released:

    L = CE(u_main) + α·½[InfoNCE(o1, o2) + InfoNCE(o2, o1)]
                   + γ·½[InfoNCE(o1, s) + InfoNCE(s, o1)]   (when k2 > 1)

`u_main` is the main pass at its own sampled depth; `o1` (the history) and
`o2` (another training row with the same target, `positive_rows`) share a
second depth k2 (`same_step`); `s` is `o1`'s state after a uniform step
`j ∈ 1..k2` (possibly the last). Similarities `dot` or `cos` over τ_a.
Training batches carry the positive histories: `training_batches`.
"""

from rearec_keras.losses._utils import batch_mean
from rearec_keras.methods.method import Method
from rearec_keras.methods.method import Phase
from rearec_keras.methods.registry import register_method
from rearec_keras.methods.setting import Setting
from rearec_keras.utils.choices import ADAPTERS
from rearec_keras.utils.choices import DEPTH_SAMPLERS
from rearec_keras.utils.choices import REWARDS
from rearec_keras.utils.choices import SIMILARITIES
from rearec_keras.utils.choices import STATE_INITS


@register_method
class LARESMethod(Method):
    """LARES SPT (see the module docstring). Defaults: the official run
    script (`run_sl.sh`): 2 + 2 layers, k̄ = 4, post-LN, α = 0.1, γ = 0.5,
    dot similarity, τ_a = 1. RecBole 3.0's variant: `reasoning_steps=3`,
    `trajectory_weight=0.2`, `step_weight=0.1`, `pre_norm=True`,
    `filter_top_k=None`."""

    name = "lares"
    title = "LARES"
    description = ("depth recurrence: one shared core block applied k times to every position; "
                   "trajectory and step alignment; any depth at test time")
    pooling = "last"
    max_reasoning_steps = None  # the depth is a loop count, not a sequence length
    # The official model's defaults for the model settings it shares.
    model_defaults = {"reasoning_steps": 4, "base_temperature": 1.0, "dropout": 0.5,
                      "attention_dropout": 0.5, "num_heads": 2, "intermediate_dim": 256}
    settings = (
        Setting("num_pre_layers", 2, "Transformer layers of LARES' pre-block (run once)",
                minimum=1),
        Setting("num_core_layers", 2, "Transformer layers of LARES' shared core block (run "
                "k times)", minimum=1),
        Setting("depth_sampler", "poisson_lognormal", "LARES' training depth per forward "
                "call (mean: reasoning_steps = k̄)", choices=DEPTH_SAMPLERS),
        Setting("adapter", "add", "how LARES re-injects the pre-block output: (T+H)/2, "
                "Dense([T;H]) or a learned gate", choices=ADAPTERS),
        Setting("state_init", "normal", "LARES' T_0: ω·TruncNormal(0, σ) in training and "
                "evaluation (released), noise in training only, or zeros", choices=STATE_INITS),
        Setting("state_std", 1.0, "σ of LARES' initial state", symbol="σ", minimum=0.0),
        Setting("state_scale", 3.0, "ω scaling LARES' initial state", symbol="ω", minimum=0.0),
        Setting("pre_norm", False, "pre-LN blocks (RecBole 3.0) instead of post-LN (official)"),
        Setting("trajectory_weight", 0.1, "weight of LARES' trajectory alignment (InfoNCE "
                "of two same-target trajectories)", symbol="α", minimum=0.0),
        Setting("step_weight", 0.5, "weight of LARES' step alignment (an intermediate vs the "
                "final state)", symbol="γ", minimum=0.0),
        Setting("similarity", "dot", "similarity of LARES' alignment terms", choices=SIMILARITIES),
        Setting("alignment_temperature", 1.0, "temperature of LARES' alignment InfoNCE",
                symbol="τ_a", minimum=0.0, exclusive_minimum=True),
        Setting("same_step", True, "both views of the trajectory term share one depth"),
        Setting("rpt", True, "LARES' reinforcement post-training (GRPO) after SPT: "
                "`rearec-keras train` runs SPT, the filter, then RPT, each early-stopped"),
        Setting("rpt_after_epochs", None, "switch to RPT after this many SPT epochs inside "
                "one `model.fit` (None: `fit` stays in SPT until `set_phase('rpt')`; the "
                "runner switches when SPT early-stops)", kind=int, minimum=1, optional=True),
        Setting("filter_top_k", 100, "RPT trains on the rows whose target is in the "
                "pre-trained model's top-k in some pass (None: every row, as RecBole 3.0)",
                kind=int, minimum=1, optional=True),
        Setting("filter_passes", 3, "evaluation passes of the RPT filter (each draws its "
                "own T_0)", minimum=1),
        Setting("group_size", 4, "GRPO rollouts per training row", symbol="G", minimum=2),
        Setting("rpt_kl_weight", 1.0, "weight of the k3 KL to the frozen SPT reference",
                symbol="β", minimum=0.0),
        Setting("reward", "recall", "the rollout reward: Recall@k or NDCG@k of its last step",
                choices=REWARDS),
        Setting("reward_k", 10, "the cut-off of the rollout reward", minimum=1),
        Setting("rpt_learning_rate", 5e-4, "learning rate in RPT (released)", minimum=0.0,
                exclusive_minimum=True),
        Setting("rpt_dropout", 0.1, "dropout of the reasoner in RPT (released)", minimum=0.0,
                maximum=1.0, exclusive_maximum=True),
    )
    # Official yaml/run-script values and RecBole 3.0's, around them.
    search_space = {
        "reasoning_steps": [2, 3, 4, 6],
        "trajectory_weight": [0.05, 0.1, 0.2, 0.5],
        "step_weight": [0.05, 0.1, 0.5],
        "alignment_temperature": [0.07, 0.2, 1.0],
        "rpt_kl_weight": [0.1, 0.5, 1.0],
        "group_size": [2, 4, 8],
    }

    @classmethod
    def check_model(cls, values, reasoning_steps, base_temperature):
        if reasoning_steps < 1:
            raise ValueError(f"learning='lares' needs reasoning_steps (the mean depth k̄) >= 1, "
                             f"got {reasoning_steps}.")
        if not values.get("rpt", True) and values.get("rpt_after_epochs") is not None:
            raise ValueError(f"rpt_after_epochs={values['rpt_after_epochs']} switches to RPT, "
                             "which rpt=False turns off; pass rpt=True or drop rpt_after_epochs.")

    def make_reasoner(self, model, encoder=None, name="reasoning"):
        from rearec_keras.layers.depth_recurrent import DepthRecurrentReasoning

        if encoder is not None:
            raise ValueError("learning='lares' builds its own pre- and core blocks; pass a "
                             "whole `reasoner=` instead of `encoder=`.")
        from rearec_keras.models.rearec_model import ReaRecModel

        # Its blocks are causal transformer blocks: a backbone with another
        # attention (BERT4Rec's bidirectional) or its own layers (HSTU) would
        # silently train as SASRec's; the text backbones only change the item
        # table, which LARES keeps.
        own_layers = type(model)._make_encoder is not ReaRecModel._make_encoder
        if model.attention_mode != "causal" or own_layers:
            raise ValueError(f"learning='lares' runs causal transformer blocks of its own; "
                             f"{type(model).__name__} would lose its "
                             f"{'layers' if own_layers else 'bidirectional attention'}. Use the "
                             "sasrec backbone (or a text backbone, unisrec / morec).")
        return DepthRecurrentReasoning(
            model.hidden_dim, num_heads=model.num_heads, intermediate_dim=model.intermediate_dim,
            num_pre_layers=self.num_pre_layers, num_core_layers=self.num_core_layers,
            mean_depth=model.reasoning_steps, depth_sampler=self.depth_sampler,
            adapter=self.adapter, state_init=self.state_init, state_std=self.state_std,
            state_scale=self.state_scale, norm_first=self.pre_norm, dropout=model.dropout,
            input_layer_norm=model.input_layer_norm, input_dropout=model.dropout,
            layer_norm_epsilon=model.layer_norm_epsilon, name=name,
        )

    # ------------------------------------------------------------------
    @classmethod
    def training_batches(cls, part, batch_size, *, shuffle, seed, drop_remainder):
        """Batches `((histories, positives), targets)`: each row's positive
        is another training row with the same target, drawn afresh every
        epoch (the row itself when its target occurs once)."""
        from rearec_keras.data.batches import PositiveBatches

        return PositiveBatches(part, batch_size, shuffle=shuffle, seed=seed,
                               drop_remainder=drop_remainder)

    # ------------------------------------------------------------------
    # Phases: SPT, then (rpt=True) RPT against a frozen copy of SPT's model.

    def phases(self, model):
        if not self.rpt:
            return (Phase("spt"),)
        # RPT scores its own rollouts: the model's main forward pass is skipped.
        return (Phase("spt", epochs=self.rpt_after_epochs),
                Phase("rpt", options={"rpt": True, "main_forward": False}))

    @classmethod
    def run_phases(cls, values):
        if values.get("rpt", True) and values.get("rpt_after_epochs") is None:
            return ("spt", "rpt")
        return ()

    @classmethod
    def trial_settings(cls, values, epochs):
        """A tuning trial (one `fit`) runs SPT for the first half of its
        epochs, then RPT on every row, so that β and G take effect."""
        if values.get("rpt", True) and values.get("rpt_after_epochs") is None and epochs >= 2:
            return {"rpt_after_epochs": epochs // 2}
        return {}

    def phase_data(self, model, phase, part):
        """RPT trains on the filtered rows (`filter_training_rows`)."""
        if phase != "rpt" or self.filter_top_k is None:
            return None
        return filter_training_rows(model, part, top_k=self.filter_top_k,
                                    passes=self.filter_passes)

    def build(self, model):
        if not self.rpt:
            return
        if model.negatives != "full":
            raise ValueError("LARES' RPT scores the whole catalog (negatives='full'); got "
                             f"negatives={model.negatives!r}.")
        if model.dropout == 0 and self.rpt_dropout > 0:
            # Keras creates a Dropout's random state only for a positive rate.
            raise ValueError(f"rpt_dropout={self.rpt_dropout} needs a model built with "
                             "dropout > 0; pass rpt_dropout=0.0 or a positive dropout.")
        from rearec_keras.layers import LeftPaddedPositionEmbedding

        # The frozen reference (the SPT weights, copied when RPT starts):
        # its own reasoner, item table and positions, never trained.
        reference = self.make_reasoner(model, name="reference_reasoning")
        reference.trainable = False
        model.reference_reasoning = reference
        model.reference_position = LeftPaddedPositionEmbedding(
            model.max_length, model.hidden_dim, name="reference_position")
        model.reference_position.trainable = False
        model.reference_table = model.add_weight(
            shape=(model.num_items + 1, model.hidden_dim), initializer="zeros",
            trainable=False, name="reference_item_table")
        model.reference_ready = model.add_weight(
            shape=(), initializer="zeros", trainable=False, name="reference_ready")

    def build_weights(self, model):
        if not self.rpt:
            return
        import numpy as np

        dummy = np.zeros((1, model.max_length), dtype="int32")
        dummy[0, -1] = 1
        self.reference_states(model, dummy, 1)
        # Again once built, layer by layer: the blocks' sublayers are made
        # in `build`, after the flag was set on their (then empty) parents,
        # and setting an unchanged flag on a parent does not reach them.
        for root in (model.reference_reasoning, model.reference_position):
            for layer in root._flatten_layers():
                layer.trainable = False

    def on_phase_start(self, model, phase):
        if not phase.options.get("rpt"):
            return
        import numpy as np
        from keras import ops

        # A resumed run restores the snapshot with the weights: copy once.
        if float(ops.convert_to_numpy(model.reference_ready)) == 0.0:
            model.reference_reasoning.set_weights(model.reasoning.get_weights())
            model.reference_position.set_weights(model.position_embedding.get_weights())
            # A numpy copy: on JAX a variable must not share its buffer.
            model.reference_table.assign(np.array(
                ops.convert_to_numpy(model._item_table(training=False)), dtype="float32"))
            model.reference_ready.assign(1.0)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            optimizer.learning_rate.assign(self.rpt_learning_rate)
        import keras

        for layer in model.reasoning._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = self.rpt_dropout

    def reference_states(self, model, histories, depth):
        """The frozen reference's outputs at `depth` (evaluation mode; its
        `T_0` drawn as its `state_init` says)."""
        from keras import ops

        histories = ops.cast(histories, "int32")
        mask = ops.not_equal(histories, 0)
        x = ops.take(ops.cast(model.reference_table, model.compute_dtype), histories, axis=0)
        x = x + model.reference_position(mask)
        return model.reference_reasoning(x, mask, steps=depth, training=False)

    def rpt_loss(self, model, x, y, sample_weight=None):
        """GRPO over `group_size` rollouts per row (see `losses.lares`)."""
        from keras import ops

        from rearec_keras.losses.lares import group_advantages
        from rearec_keras.losses.lares import grpo_loss
        from rearec_keras.losses.lares import ranking_reward

        histories, _ = self.split_inputs(x)
        targets = ops.cast(y, "int32")
        tau = model.base_temperature
        reasoner = model.reasoning
        ref_table = ops.cast(model.reference_table, "float32")

        def target_log_probs(states, table=None):  # [B, S, d] -> [B, S]
            logits = model._logits(states, table) / tau
            log_probs = ops.log_softmax(logits, axis=-1)
            index = ops.broadcast_to(ops.reshape(targets, (-1, 1, 1)),
                                     (ops.shape(logits)[0], ops.shape(logits)[1], 1))
            return ops.squeeze(ops.take_along_axis(log_probs, index, axis=-1), -1)

        rollouts = []
        for _ in range(self.group_size):
            depth = reasoner.sample_depth()
            out = model._states(histories, training=True, depth=depth)
            ref = self.reference_states(model, histories, depth)
            steps = out["states"][:, 1:]
            valid = (out["step_mask"][:, 1:] if "step_mask" in out
                     else ops.ones(ops.shape(steps)[:2], "bool"))
            last = self.pool(out["states"], out.get("step_mask"))
            reward = ranking_reward(model._logits(ops.expand_dims(last, 1))[:, 0] / tau,
                                    targets, self.reward, self.reward_k)
            rollouts.append((target_log_probs(steps), target_log_probs(ref["states"][:, 1:],
                                                                       ref_table),
                             valid, ops.stop_gradient(reward)))
        # Unequal depths (eager PyTorch draws Python ints): pad to the deepest.
        width = max(int(r[0].shape[1]) for r in rollouts)

        def pad(t, value):
            extra = width - int(t.shape[1])
            return t if extra == 0 else ops.pad(t, ((0, 0), (0, extra)), constant_values=value)

        log_probs = ops.stack([pad(r[0], 0.0) for r in rollouts], axis=1)  # [B, G, S]
        ref_log_probs = ops.stack([pad(r[1], 0.0) for r in rollouts], axis=1)
        mask = ops.stack([pad(ops.cast(r[2], "float32"), 0.0) for r in rollouts], axis=1)
        advantages = group_advantages(ops.stack([r[3] for r in rollouts], axis=1))  # [B, G]
        per_rollout = grpo_loss(ops.reshape(log_probs, (-1, width)),
                                ops.reshape(ref_log_probs, (-1, width)),
                                ops.reshape(advantages, (-1,)),
                                ops.reshape(mask, (-1, width)) > 0, self.rpt_kl_weight)
        per_row = ops.mean(ops.reshape(per_rollout, (-1, self.group_size)), axis=1)
        return batch_mean(per_row, sample_weight)

    def reasoning_loss(self, model, x, y, outputs, sample_weight=None):
        import keras
        from keras import ops

        from rearec_keras.losses.lares import symmetric_info_nce

        if model.phase.options.get("rpt"):
            return self.rpt_loss(model, x, y, sample_weight)

        histories, positives = self.split_inputs(x)
        if positives is None:  # plain (histories, targets) data: the row itself
            positives = histories
        tau = model.base_temperature
        logits = model.training_logits(y, outputs.get("item_table"))
        main = self.pool(outputs["states"], outputs.get("step_mask"))
        main_logits, targets = logits(ops.expand_dims(main, 1), tau)
        loss = self.ce(targets, main_logits / tau, sample_weight=sample_weight)
        if self.trajectory_weight == 0 and self.step_weight == 0:
            return loss
        reasoner = model.reasoning
        depth = reasoner.sample_depth()
        view = model._states(histories, training=True, depth=depth)
        other = model._states(positives, training=True,
                              depth=depth if self.same_step else reasoner.sample_depth())
        o1 = self.pool(view["states"], view.get("step_mask"))
        o2 = self.pool(other["states"], other.get("step_mask"))
        options = dict(similarity=self.similarity, temperature=self.alignment_temperature)
        if self.trajectory_weight > 0:
            loss = loss + self.trajectory_weight * batch_mean(
                symmetric_info_nce(o1, o2, **options), sample_weight)
        if self.step_weight > 0:
            states = view["states"]  # [B, S + 1, d]; steps 1..depth are T_1..T_depth
            depth = ops.cast(depth, "int32")
            u = keras.random.uniform((), seed=reasoner.seed_generator)
            j = ops.cast(ops.floor(u * ops.cast(depth, "float32")), "int32") + 1  # 1..depth
            step = ops.take(states, ops.minimum(j, ops.shape(states)[1] - 1), axis=1)
            term = batch_mean(symmetric_info_nce(o1, step, **options), sample_weight)
            loss = loss + self.step_weight * ops.where(depth > 1, term, 0.0)
        return loss


def filter_training_rows(model, part, top_k=100, passes=3, batch_size=512):
    """The released filter between SPT and RPT: the training rows whose
    target ranks in the top `top_k` of at least one of `passes` evaluation
    passes (each with a fresh `T_0` when `state_init="normal"`).

    Ranks are `rearec_keras.evaluation.target_ranks`' (ties count against
    the target). Returns `(kept_indices, report)`: int64 row indices into
    `part` and a JSON-ready dict of the counts and the rule.
    """
    import numpy as np

    from rearec_keras.evaluation import check_catalog
    from rearec_keras.evaluation import target_ranks
    from rearec_keras.utils.validation import check_int

    check_int("top_k", top_k, 1)
    check_int("passes", passes, 1)
    histories, targets = check_catalog(model, part)
    keep = np.zeros(len(targets), dtype=bool)
    for _ in range(passes):
        for start in range(0, len(targets), batch_size):
            rows = slice(start, start + batch_size)
            scores = model.score(histories[rows], batch_size=batch_size)
            ranks = np.asarray(target_ranks(scores, targets[rows]))
            keep[rows] |= ranks <= top_k
    kept = np.flatnonzero(keep)
    report = {"step": "lares_filter", "rows": int(len(targets)), "kept": int(len(kept)),
              "removed": int(len(targets) - len(kept)), "top_k": int(top_k),
              "passes": int(passes),
              "reason": f"training rows whose target is outside the top {top_k} in all "
                        f"{passes} evaluation passes of the pre-trained model"}
    return kept, report
