"""Keras callbacks of the training layer.

- `PhaseSchedule`: switches a model's training phase at epoch boundaries
  (the method's `phases`, e.g. PRL's noise warm-up); `model.fit` adds it.
- `RunTracker`: early stopping + best-model checkpoint whose state survives
  a kill (`state.json`).
- `EpochTime`: adds `epoch_seconds` to the epoch logs.
"""

import json
import math
import time
from pathlib import Path

import keras


class TrainingError(RuntimeError):
    """Training cannot go on as asked (e.g. the monitored metric is missing)."""


class PhaseSchedule(keras.callbacks.Callback):
    """Puts the model in the phase of each epoch (`model.phase_for_epoch`).

    Phases last a number of epochs each (epochs are counted from 0 here; a
    phase of `epochs=2` covers epochs 1 and 2 in 1-based logs). Switching
    retraces the train function, so each phase runs its own static graph
    (PRL's warm-up epochs never duplicate the batch). The phase follows
    from the epoch number alone, so a run resumed from a checkpoint (Keras
    `BackupAndRestore` restores the epoch) is in the right phase.

    Args:
        on_change: optional `callable(epoch, phase)` called after a switch.
    """

    def __init__(self, on_change=None):
        super().__init__()
        self.on_change = on_change

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        if not hasattr(model, "phase_for_epoch"):
            return
        phase = model.phase_for_epoch(epoch)
        if phase is not model.phase:
            model.set_phase(phase)
            if self.on_change is not None:
                self.on_change(epoch, phase)


class ReasoningNoiseSchedule(PhaseSchedule):
    """Former name of `PhaseSchedule` (PRL's noise warm-up is a phase)."""


class RunTracker(keras.callbacks.Callback):
    """Early stopping + best-model checkpoint whose state survives a kill.

    After every epoch: if `logs[monitor]` improved, saves the model to
    `best_path`; stops training after `patience` epochs without
    improvement; writes its state to `state_path` so a resumed run
    continues the same count. Must come after the callback that puts
    `monitor` into the logs.
    """

    def __init__(self, monitor, patience, best_path, state_path):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.best_path = Path(best_path)
        self.state_path = Path(state_path)
        self.state = {
            "best_value": None, "best_epoch": None, "wait": 0,
            "epochs_done": 0, "stopped_early": False, "finished": False,
        }
        if self.state_path.exists():
            self.state.update(json.loads(self.state_path.read_text()))

    def _write(self):
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.state_path)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise TrainingError(
                f"{self.monitor!r} is not in the epoch logs ({', '.join(sorted(logs))}); "
                "the evaluation callback must come first"
            )
        value = float(logs[self.monitor])
        best = self.state["best_value"]
        # An epoch already counted (killed between this callback and the
        # backup, then re-run) does not count twice.
        repeated = epoch + 1 <= self.state["epochs_done"]
        if math.isfinite(value) and (best is None or value > best):
            # Written aside, then renamed: a kill mid-save never leaves a
            # corrupt best.keras.
            partial = self.best_path.with_name("partial-" + self.best_path.name)
            self.model.save(partial)
            partial.replace(self.best_path)
            self.state.update(best_value=value, best_epoch=epoch + 1, wait=0)
        elif not repeated:
            self.state["wait"] += 1
        self.state["epochs_done"] = max(self.state["epochs_done"], epoch + 1)
        if hasattr(self.model, "phase"):
            self.state["phase"] = self.model.phase.name
        if self.state["wait"] >= self.patience:
            self.state["stopped_early"] = True
            self.model.stop_training = True
        self._write()

    def on_train_end(self, logs=None):
        self.state["finished"] = True
        self._write()


class EpochTime(keras.callbacks.Callback):
    """Adds `epoch_seconds` (training + validation) to the epoch logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start
