"""`erl`: Ensemble Reasoning Learning (ReaRec §3.2).

A loss on every reasoning step plus a diversity term of weight λ between the
per-step distributions; inference scores with the mean of the K+1 states.
"""

from rearec_keras.methods.common import LOSS_VARIANT
from rearec_keras.methods.common import REASONING_STEPS_GRID
from rearec_keras.methods.method import Method
from rearec_keras.methods.registry import register_method
from rearec_keras.methods.setting import Setting
from rearec_keras.utils.choices import DIVERGENCES


@register_method
class ERLMethod(Method):
    """ERL. `loss_variant="code"` (default): CE of the mean-pooled state (the
    released loss); `"paper"`: the sum of the per-step CEs. Both subtract
    λ·diversity, a bounded KL (`"kl"`: the released KL(p_j ‖ sg p_i) over
    ordered step pairs, saturated at log N; the released unbounded loss
    reached NaN on ml-100k) or Jensen-Shannon (`"js"`)."""

    name = "erl"
    title = "ERL"
    description = "loss on every step minus λ x step diversity; mean of the states at inference"
    pooling = "mean"
    settings = (
        Setting("kl_weight", 0.05, "weight of the diversity term between the steps",
                symbol="λ", minimum=0.0),
        Setting("diversity", "kl", "divergence between the steps' distributions",
                choices=DIVERGENCES),
        LOSS_VARIANT,
    )
    # ReaRec §5.1: λ in {0.001, ..., 0.1}, K in {1, 2, 3}.
    search_space = {"kl_weight": [0.001, 0.005, 0.01, 0.05, 0.1],
                    "reasoning_steps": list(REASONING_STEPS_GRID)}

    def build(self, model):
        from rearec_keras.losses import EnsembleDiversityLoss
        from rearec_keras.losses import MultiStepCrossEntropy

        K = model.reasoning_steps
        if K > 0:
            self.erl_ce = MultiStepCrossEntropy(
                temperatures=[model.base_temperature] * (K + 1), variant="paper",
                name="ensemble_ce",
            )
            self.diversity_loss = EnsembleDiversityLoss(divergence=self.diversity,
                                                        name="diversity")

    def reasoning_loss(self, model, x, y, outputs, sample_weight=None):
        from keras import ops

        states = outputs["states"]
        tau = model.base_temperature
        logits = model.training_logits(y, outputs.get("item_table"))
        step_logits, targets = logits(states, tau)  # [B, K+1, C]
        if self.loss_variant == "code":
            # The score of the mean state is the mean of the steps' scores
            # (scores are linear in the state, and every step here has the
            # same temperature, logQ correction and masked columns): one
            # catalog product fewer per batch, forward and backward.
            pooled = ops.mean(step_logits, axis=1, keepdims=True)
            loss = self.ce(targets, pooled / tau, sample_weight=sample_weight)
        else:
            loss = self.erl_ce(targets, step_logits, sample_weight=sample_weight)
        if self.kl_weight > 0:
            loss = loss + self.kl_weight * self.diversity_loss(
                targets, step_logits / tau, sample_weight=sample_weight
            )
        return loss
