"""Reproducible training runs: data, model, run directory, resume, metrics.

`train_run(config, run_dir)` is what `rearec-keras train` does. The run
directory holds:

- `config.json`: the resolved `RunConfig`;
- `data.json`: dataset and split statistics (with every filtering step) and
  the data `fingerprint` (`Split.fingerprint()`): resuming, `evaluate`,
  `recommend` and `analyze` refuse data with another fingerprint;
- `log.csv`: exactly one row per epoch (loss, validation metrics), also
  across kills and resumes; `tensorboard/`: the same as events (an epoch
  trained again after a kill is written again; TensorBoard shows both);
- `best.keras`: the model of the best validation epoch (written aside and
  renamed: never half-written);
- `state.json`: early-stopping state (best epoch and value, patience left,
  the training phase of the last epoch);
- `backup/`: the training state of the last two finished epochs
  (`RunBackup`; removed when training ends);
- `.lock`: held while a process trains the run; a second `train` on the
  same directory fails at once, naming the holder (a killed process holds
  nothing);
- `metrics.json`: valid and test metrics of the best model, also per
  reasoning step; `results.md`: the same as a table.

JSON files are written aside and renamed. Re-running on a directory whose
training was killed resumes from the last finished epoch; a finished run is
not trained again. A file that cannot be read stops the run with one line
naming it and what to do.

The pieces live by concern: `prepare` (data), `factory` (the model),
`run_dir` (identity and reading runs back), `reports` (metrics and tables)
and `rearec_keras.training` (strategy, callbacks, the fit loop); their
public names are re-exported here.
"""

import json
import time

from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.factory import build_model  # noqa: F401
from rearec_keras.experiments.factory import compiled_model
from rearec_keras.experiments.factory import item_features_for
from rearec_keras.experiments.prepare import log_progress
from rearec_keras.experiments.prepare import data_statistics
from rearec_keras.experiments.prepare import load_dataset  # noqa: F401
from rearec_keras.experiments.prepare import make_split  # noqa: F401
from rearec_keras.experiments.prepare import prepare_data
from rearec_keras.experiments.reports import metric_columns  # noqa: F401
from rearec_keras.experiments.reports import monitor_name
from rearec_keras.experiments.reports import results_table
from rearec_keras.experiments.reports import step_metrics
from rearec_keras.experiments.run_dir import REMEDIES
from rearec_keras.experiments.run_dir import RunError
from rearec_keras.experiments.run_dir import check_catalog  # noqa: F401
from rearec_keras.experiments.run_dir import check_data
from rearec_keras.experiments.run_dir import check_model_file
from rearec_keras.experiments.run_dir import check_run_dir
from rearec_keras.experiments.run_dir import load_run  # noqa: F401
from rearec_keras.experiments.run_dir import read_run_file
from rearec_keras.experiments.run_dir import settings_diff  # noqa: F401
from rearec_keras.utils.files import RunLock
from rearec_keras.utils.files import write_text_atomic


def train_run(config: RunConfig, run_dir, *, verbose=1, split=None, dataset=None,
              item_features=None):
    """Trains, selects and evaluates one run; returns the metrics dict.

    Args:
        config: the `RunConfig`.
        run_dir: directory of the run (created). If it holds a killed run of
            the same config, training resumes from its last finished epoch;
            if it holds a finished run, its metrics are returned as they are.
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.
        split, dataset: optional already prepared data (must match config).
        item_features: optional `item_features_for(config, split)`, already
            computed (text backbones; computed here when None).

    Under `config.strategy` the model is created and trained in the
    strategy's scope; `best.keras` loads without it. In a `multi_worker`
    cluster every worker runs `train_run` with the same arguments; the chief
    writes `run_dir`, each other worker `run_dir/workers/TYPE-ID` (its own
    checkpoints, so that every worker resumes a killed job).
    """
    from rearec_keras import distribute
    from rearec_keras import training

    # First: multi_worker configures its collective ops before any op runs.
    setup = training.setup_for(config)
    run_dir = distribute.worker_dir(run_dir, setup.strategy)
    lock = RunLock(run_dir)
    if run_dir.is_dir():  # a second process on it fails before loading data
        lock.acquire()
    try:
        return _train_run(config, run_dir, setup, lock, verbose, split, dataset, item_features)
    finally:
        lock.release()


def _train_run(config, run_dir, setup, lock, verbose, split, dataset, item_features):
    import keras

    from rearec_keras import distribute
    from rearec_keras import training

    strategy = setup.strategy
    resumed = check_run_dir(config, run_dir)
    metrics_path = run_dir / "metrics.json"
    if resumed and metrics_path.exists():
        log_progress(verbose, f"run {run_dir} is already finished; reading its metrics")
        return read_run_file(run_dir, "metrics.json")
    if strategy is not None:
        role = distribute.worker_role(strategy)
        log_progress(verbose, f"strategy {config.strategy}: {distribute.num_replicas(strategy)} replicas, "
                      f"global batch {config.batch_size}"
                      + (f"; this process is {role[0]} {role[1]}" if role else ""))
    keras.utils.set_random_seed(config.seed)
    if split is None:
        dataset, split = prepare_data(config, verbose)
    if item_features is None:
        item_features = item_features_for(config, split, verbose)
    # Created only once the data (and item features) loaded: a bad path
    # leaves nothing behind.
    if resumed:
        check_data(run_dir, split)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock.acquire()
    config.save(run_dir / "config.json")
    write_text_atomic(run_dir / "data.json",
                      json.dumps(data_statistics(dataset, split), indent=2) + "\n")

    monitor = monitor_name(config)
    best_path = run_dir / "best.keras"
    state_path = run_dir / "state.json"
    tracker = training.RunTracker(monitor, config.patience, best_path, state_path)
    start = time.perf_counter()
    if not tracker.state["finished"]:
        if tracker.state["epochs_done"]:
            log_progress(verbose, f"resuming {run_dir} after epoch {tracker.state['epochs_done']}")
        model = compiled_model(config, split.num_items, split.train_item_counts(), item_features,
                               setup=setup)
        from rearec_keras.utils.optional import has_tensorflow

        callbacks = [
            training.EpochTime(),
            tracker,
            training.EpochLog(run_dir / "log.csv"),
            # TensorBoard event files need TensorFlow (tf.summary): a JAX or
            # PyTorch install without it gets log.csv only.
            *([keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False)]
              if has_tensorflow() else []),
            # Last: an epoch counts as done once everything above recorded
            # it. Two checkpoints: if the newest cannot be read, the run
            # resumes from the one before (and log.csv is cut back to it).
            training.RunBackup(run_dir / "backup", keep=2),
        ]
        training.fit(model, split.train, split.valid, setup, callbacks=callbacks,
                     verbose=verbose)
    train_seconds = time.perf_counter() - start
    if not best_path.exists():
        raise RunError(
            f"no epoch of {run_dir} reached a finite {monitor}; nothing to evaluate"
        )
    log_progress(verbose, f"evaluating the best model (epoch {tracker.state['best_epoch']})")
    check_model_file(best_path, REMEDIES["best.keras"])
    best = keras.saving.load_model(best_path)
    metrics = {
        "model": config.describe(),
        "dataset": config.dataset,
        "split": config.split,
        "num_items": split.num_items,
        "best_epoch": tracker.state["best_epoch"],
        "epochs_run": tracker.state["epochs_done"],
        "stopped_early": tracker.state["stopped_early"],
        "monitor": monitor,
        "train_seconds_this_session": round(train_seconds, 1),
        "valid": step_metrics(best, split.valid, config.ks, config.eval_batch_size),
        "test": step_metrics(best, split.test, config.ks, config.eval_batch_size),
    }
    write_text_atomic(metrics_path, json.dumps(metrics, indent=2))
    write_text_atomic(run_dir / "results.md", results_table(metrics, config.ks) + "\n")
    return metrics
