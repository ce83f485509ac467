"""Losses for ReaRec-style reasoning-enhanced sequential recommendation.

- `MultiStepCrossEntropy`: next-item CE over the reasoning steps (ERL Eq. 6,
  PRL with progressive temperatures; `variant="paper"|"code"`).
- `EnsembleDiversityLoss`: ERL's diversity term between the per-step
  distributions, bounded (saturating KL or Jensen-Shannon), returned negated.
- `ReasoningContrastiveLoss`: PRL's InfoNCE between noisy and clean states.
- `progressive_temperatures` / `ProgressiveTemperature`: PRL's schedule
  `tau_k = tau * alpha ** (K - k)`.

Every loss reduces with Keras's `"sum_over_batch_size"`, so it scales
correctly under `tf.distribute` and can be summed inside `compute_loss`.
"""

from rearec_keras.losses.ensemble_diversity import EnsembleDiversityLoss
from rearec_keras.losses.ensemble_diversity import default_diversity_cap
from rearec_keras.losses.ensemble_diversity import ensemble_diversity
from rearec_keras.losses.ensemble_diversity import pairwise_step_divergence
from rearec_keras.losses.multi_step_cross_entropy import MultiStepCrossEntropy
from rearec_keras.losses.progressive_temperature import ProgressiveTemperature
from rearec_keras.losses.progressive_temperature import (
    progressive_temperature_values,
)
from rearec_keras.losses.progressive_temperature import progressive_temperatures
from rearec_keras.losses.reasoning_contrastive import ReasoningContrastiveLoss
from rearec_keras.losses.reasoning_contrastive import reasoning_contrastive

__all__ = [
    "EnsembleDiversityLoss",
    "MultiStepCrossEntropy",
    "ProgressiveTemperature",
    "ReasoningContrastiveLoss",
    "default_diversity_cap",
    "ensemble_diversity",
    "pairwise_step_divergence",
    "progressive_temperature_values",
    "progressive_temperatures",
    "reasoning_contrastive",
]
