"""The training layer: callbacks, strategy handling and the fit loop that
`rearec-keras train`, `compare` and `tune` share.

- `TrainingSetup` (`setup_for(config)`): the distribution strategy resolved
  once, with the dataset and validation helpers that depend on it.
- `fit(model, train, valid, setup, ...)`: `model.fit` with full-ranking
  validation, the phase schedule and the given callbacks.
- `callbacks`: `PhaseSchedule`, `RunTracker`, `EpochTime`, `RunBackup`,
  `EpochLog`.
"""

from rearec_keras.training.callbacks import EpochLog
from rearec_keras.training.callbacks import EpochTime
from rearec_keras.training.callbacks import PhaseSchedule
from rearec_keras.training.callbacks import ReasoningNoiseSchedule
from rearec_keras.training.callbacks import RunBackup
from rearec_keras.training.callbacks import RunTracker
from rearec_keras.training.callbacks import TrainingError
from rearec_keras.training.loop import TrainingSetup
from rearec_keras.training.loop import fit
from rearec_keras.training.loop import setup_for

__all__ = [
    "EpochLog",
    "EpochTime",
    "PhaseSchedule",
    "ReasoningNoiseSchedule",
    "RunBackup",
    "RunTracker",
    "TrainingError",
    "TrainingSetup",
    "fit",
    "setup_for",
]
