"""Keras callbacks of the training layer.

- `PhaseSchedule`: switches a model's training phase at epoch boundaries
  (the method's `phases`, e.g. PRL's noise warm-up); `model.fit` adds it.
- `RunTracker`: early stopping + best-model checkpoint whose state survives
  a kill (`state.json`).
- `EpochTime`: adds `epoch_seconds` to the epoch logs.
- `RunBackup`: the training state (weights, optimizer, epoch) of the last
  two finished epochs, written atomically; a resumed `fit` restarts from
  the newest readable one.
- `EpochLog`: `log.csv`, one row per epoch, always (a resumed run first
  cuts the rows of the epochs it will train again).
"""

import csv
import json
import logging
import math
import re
import shutil
import time
from pathlib import Path

import keras

from rearec_keras.utils.files import CorruptFileError
from rearec_keras.utils.files import read_json
from rearec_keras.utils.files import write_text_atomic

logger = logging.getLogger("rearec_keras")


class TrainingError(RuntimeError):
    """Training cannot go on as asked (e.g. the monitored metric is missing)."""


class PhaseSchedule(keras.callbacks.Callback):
    """Puts the model in the phase of each epoch (`model.phase_for_epoch`),
    then runs the method's `on_epoch_begin` (e.g. DTRec's reclustering).

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
        method = model.method
        if _takes_verbose(method.on_epoch_begin):
            # The fit's verbosity: DTRec's K-means shows progress as the epochs do.
            method.on_epoch_begin(model, epoch, verbose=(self.params or {}).get("verbose", 0))
        else:
            method.on_epoch_begin(model, epoch)


def _takes_verbose(function) -> bool:
    """Whether `function` accepts a `verbose=` keyword (methods written
    before it was passed take `(model, epoch)` only)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "verbose" or p.kind is inspect.Parameter.VAR_KEYWORD
               for p in parameters)


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
            self.state.update(read_json(
                self.state_path,
                f"delete it and {self.state_path.parent / 'backup'} to train the run again "
                "from epoch 1 (or delete the whole run directory)",
            ))

    def _write(self):
        write_text_atomic(self.state_path, json.dumps(self.state, indent=2))

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


class RunBackup(keras.callbacks.Callback):
    """The training state of the last `keep` finished epochs, for resuming.

    After every epoch the model's weights (its optimizer's included) go to
    `directory/epoch-NNNNN.weights.h5`, written aside and then renamed (a
    kill mid-write never leaves a file that looks complete); older files
    beyond the last `keep` are deleted. At the start of `fit` the newest
    file that loads restores the model and sets the epoch Keras' `fit`
    resumes from; one that does not load is
    reported and the one before is tried. The directory is removed when
    training ends.

    Raises:
        CorruptFileError: checkpoints exist but none loads (the message
            says to delete the directory to restart the run).
    """

    _PATTERN = re.compile(r"^epoch-(\d+)\.weights\.h5$")

    def __init__(self, directory, keep=2):
        super().__init__()
        self.directory = Path(directory)
        self.keep = int(keep)

    def checkpoints(self):
        """`[(epoch, path)]` of the finished checkpoints, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = self._PATTERN.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        # Runs started before this callback: Keras' BackupAndRestore files.
        for weights, meta in (("latest.weights.h5", "training_metadata.json"),
                              ("latest.weights.h5.bkp", "training_metadata.json.bkp")):
            if (self.directory / weights).exists() and (self.directory / meta).exists():
                try:
                    epoch = int(json.loads((self.directory / meta).read_text())["epoch"])
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    continue
                found.append((epoch, self.directory / weights))
        return sorted(found, key=lambda item: item[0], reverse=True)

    def on_train_begin(self, logs=None):
        candidates = self.checkpoints()
        if not candidates:
            return
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        failures = []
        for epoch, path in candidates:
            try:
                self.model.load_weights(path)
            except Exception as e:  # truncated, corrupt or foreign file
                failures.append(f"{path.name} ({' '.join(str(e).split())[:120]})")
                logger.warning("cannot read checkpoint %s; trying the one before", path)
                continue
            self.model._initial_epoch = epoch  # what Keras' fit resumes from
            return
        raise CorruptFileError(
            f"no training checkpoint in {self.directory} can be read: {'; '.join(failures)}; "
            f"delete {self.directory} and the run's state.json to train the run again from "
            "epoch 1"
        )

    def on_epoch_end(self, epoch, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"epoch-{epoch + 1:05d}.weights.h5"
        partial = self.directory / f"partial-{final.name}"
        self.model.save_weights(partial, overwrite=True)
        partial.replace(final)
        for _, old in self.checkpoints()[self.keep:]:
            old.unlink(missing_ok=True)
            if old.name.startswith("latest."):  # a legacy file's metadata
                old.with_name(old.name.replace("latest.weights.h5", "training_metadata.json")
                              ).unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.directory, ignore_errors=True)


class EpochLog(keras.callbacks.CSVLogger):
    """`CSVLogger` (appending) that keeps one row per epoch across resumes.

    When the first epoch of a `fit` begins (after a resume: the epoch after
    the restored checkpoint), the rows of that epoch and later ones, left by
    a run killed after logging an epoch it had not checkpointed, and a last
    line cut short by a kill are removed first; so every epoch is logged
    once, whatever the order of the callbacks.
    """

    def __init__(self, filename):
        super().__init__(str(filename), append=True)
        self._opened = False

    def on_train_begin(self, logs=None):
        self._opened = False  # opened when the first epoch begins

    def on_epoch_begin(self, epoch, logs=None):
        if not self._opened:
            trim_epoch_log(Path(self.filename), epoch)
            super().on_train_begin()
            self._opened = True

    def on_train_end(self, logs=None):
        if self._opened:
            super().on_train_end(logs)


def trim_epoch_log(path, epochs: int) -> int:
    """Keeps the header and the rows of epochs `0..epochs - 1` (the `epoch`
    column, 0-based as `CSVLogger` writes it) of a log; drops repeated and
    malformed rows. Returns the rows kept."""
    path = Path(path)
    if not path.exists():
        return 0
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error):
        raise CorruptFileError(
            f"{path} is not a readable CSV log; delete it (the epochs already run are "
            "then missing from it) or delete the run directory to train again"
        ) from None
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    if "epoch" not in header:
        raise CorruptFileError(f"{path} has no 'epoch' column; delete it")
    column = header.index("epoch")
    kept, seen = [], set()
    for row in body:
        if len(row) != len(header):
            continue  # a line cut short by a kill
        try:
            epoch = int(float(row[column]))
        except ValueError:
            continue
        if epoch < epochs and epoch not in seen:
            seen.add(epoch)
            kept.append(row)
    if len(kept) != len(body):
        import io

        out = io.StringIO()
        writer = csv.writer(out)  # "\r\n", as CSVLogger writes
        writer.writerow(header)
        writer.writerows(kept)
        write_text_atomic(path, out.getvalue())
    return len(kept)
