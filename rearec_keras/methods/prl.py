"""`prl`: Progressive Reasoning Learning (ReaRec §3.3).

Per-step temperatures τ·α^(K−k), and a contrastive loss between the clean
reasoning states and a noisy twin's (noise γ, after a warm-up of
`noise_warmup_epochs`, a training phase); inference scores with the last
state.
"""

import math

from rearec_keras.methods.common import LOSS_VARIANT
from rearec_keras.methods.common import REASONING_STEPS_GRID
from rearec_keras.methods.method import Method
from rearec_keras.methods.method import Phase
from rearec_keras.methods.registry import register_method
from rearec_keras.methods.setting import Setting
from rearec_keras.utils.choices import TWIN_INPUT_MODES


@register_method
class PRLMethod(Method):
    """PRL. Training has two phases when the twin is on (K > 0 and
    `noise_std > 0`): `warmup` (`noise_warmup_epochs` epochs, epochs 1-based
    as in the released code: warm-up 2 starts the noise in epoch 3) and
    `noise`, where the batch is duplicated into a noisy twin and the
    contrastive term is added. `loss_variant="code"`: last step + mean of
    the earlier steps' tempered CE, contrastive loss averaged over steps;
    `"paper"`: both summed over the steps."""

    name = "prl"
    title = "PRL"
    description = "progressive temperatures τ·α^(K−k) and a noisy-twin contrastive loss; last state"
    settings = (
        Setting("temperature_decay", 5.0, "PRL's temperature decay: step k uses τ·α^(K−k)",
                symbol="α", minimum=1.0),
        Setting("noise_std", 0.01, "standard deviation of the noisy twin's noise (the paper's "
                "γ is a variance: pass sqrt(γ))", symbol="γ", minimum=0.0),
        Setting("noise_warmup_epochs", 2, "epochs before the noisy twin and the contrastive "
                "loss start", minimum=0),
        Setting("twin_inputs", "clean", "the twin's next input: the clean state + P^R + noise "
                "(released code) or the twin's own state", choices=TWIN_INPUT_MODES),
        Setting("contrastive_weight", 1.0, "weight of the reasoning contrastive loss",
                minimum=0.0),
        LOSS_VARIANT,
    )
    # ReaRec §5.1: τ in {0.05, ..., 5}, α in {1, ..., 10}, K in {1, 2, 3}.
    search_space = {
        "base_temperature": [0.05, 0.1, 0.5, 1.0, 2.0, 5.0],
        "temperature_decay": [1.0, 1.2, 1.5, 2.0, 5.0, 10.0],
        "reasoning_steps": list(REASONING_STEPS_GRID),
    }

    @classmethod
    def check_model(cls, values, reasoning_steps, base_temperature):
        super().check_model(values, reasoning_steps, base_temperature)
        alpha = float(values.get("temperature_decay", cls.settings[0].default))
        log_first = math.log(base_temperature) + reasoning_steps * math.log(max(alpha, 1.0))
        if not log_first < math.log(3e38):  # float32's largest finite value
            raise ValueError(
                f"PRL's first temperature τ·α^K = {base_temperature:g}·{alpha:g}^"
                f"{reasoning_steps} overflows float32; lower reasoning_steps or "
                "temperature_decay."
            )

    def uses_noise(self, model) -> bool:
        """Whether training ever runs the noisy twin."""
        return model.reasoning_steps > 0 and self.noise_std > 0

    def build(self, model):
        from rearec_keras.losses import MultiStepCrossEntropy
        from rearec_keras.losses import ReasoningContrastiveLoss
        from rearec_keras.losses import progressive_temperature_values

        K = model.reasoning_steps
        if K > 0:
            self.prl_ce = MultiStepCrossEntropy(
                temperatures=progressive_temperature_values(
                    K, model.base_temperature, self.temperature_decay
                ),
                variant=self.loss_variant,
                name="progressive_ce",
            )
            self.contrastive_loss = ReasoningContrastiveLoss(
                temperature=model.base_temperature,
                reduction_over_steps="mean" if self.loss_variant == "code" else "sum",
                name="reasoning_contrastive",
            )

    def phases(self, model):
        if not self.uses_noise(model):
            return (Phase("train"),)
        noise = Phase("noise", options={"noise": True})
        if self.noise_warmup_epochs == 0:
            return (noise,)
        return (Phase("warmup", epochs=self.noise_warmup_epochs), noise)

    def forward_options(self, model, phase):
        noisy = bool(phase.options.get("noise")) and self.uses_noise(model)
        return {"noise_std": self.noise_std if noisy else 0.0, "twin_inputs": self.twin_inputs}

    def reasoning_loss(self, model, x, y, outputs, sample_weight=None):
        K = model.reasoning_steps
        states = outputs["states"]
        logits = model.training_logits(y, outputs.get("item_table"))
        # Each step's logQ correction (sampled softmax) uses its temperature.
        step_logits, targets = logits(states, self.prl_ce.step_temperatures(K + 1))
        loss = self.prl_ce(targets, step_logits, sample_weight=sample_weight)
        noisy = outputs.get("noisy_states")
        if noisy is not None and self.contrastive_weight > 0:
            loss = loss + self.contrastive_weight * self.contrastive_loss(
                None, (states, noisy), sample_weight=sample_weight
            )
        return loss
