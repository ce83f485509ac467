"""Reproducible training runs: data, model, run directory, resume, metrics.

`train_run(config, run_dir)` is what `rearec-keras train` does. The run
directory holds:

- `config.json`: the resolved `RunConfig`;
- `data.json`: dataset and split statistics (with every filtering step);
- `log.csv` and `tensorboard/`: one row / event per epoch (loss, validation
  metrics);
- `best.keras`: the model of the best validation epoch;
- `state.json`: early-stopping state (best epoch and value, patience left,
  the training phase of the last epoch);
- `backup/`: Keras `BackupAndRestore` checkpoints of the last two finished
  epochs (removed when training ends);
- `metrics.json`: valid and test metrics of the best model, also per
  reasoning step; `results.md`: the same as a table.

Re-running on a directory whose training was killed resumes from the last
finished epoch; a finished run is not trained again.

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
from rearec_keras.experiments.run_dir import RunError
from rearec_keras.experiments.run_dir import check_catalog  # noqa: F401
from rearec_keras.experiments.run_dir import check_run_dir
from rearec_keras.experiments.run_dir import load_run  # noqa: F401
from rearec_keras.experiments.run_dir import settings_diff  # noqa: F401


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
    import keras

    from rearec_keras import distribute
    from rearec_keras import training

    # First: multi_worker configures its collective ops before any op runs.
    setup = training.setup_for(config)
    strategy = setup.strategy
    run_dir = distribute.worker_dir(run_dir, strategy)
    resumed = check_run_dir(config, run_dir)
    metrics_path = run_dir / "metrics.json"
    if resumed and metrics_path.exists():
        log_progress(verbose, f"run {run_dir} is already finished; reading its metrics")
        return json.loads(metrics_path.read_text())
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
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    if dataset is not None:
        (run_dir / "data.json").write_text(json.dumps(data_statistics(dataset, split), indent=2))

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
            keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
            # TensorBoard event files need TensorFlow (tf.summary): a JAX or
            # PyTorch install without it gets log.csv only.
            *([keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False)]
              if has_tensorflow() else []),
            # Two checkpoints: if a kill corrupts the newest while it is
            # written, the run resumes from the one before.
            keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True),
        ]
        training.fit(model, split.train, split.valid, setup, callbacks=callbacks,
                     verbose=verbose)
    train_seconds = time.perf_counter() - start
    if not best_path.exists():
        raise RunError(
            f"no epoch of {run_dir} reached a finite {monitor}; nothing to evaluate"
        )
    log_progress(verbose, f"evaluating the best model (epoch {tracker.state['best_epoch']})")
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
    metrics_path.write_text(json.dumps(metrics, indent=2))
    (run_dir / "results.md").write_text(results_table(metrics, config.ks) + "\n")
    return metrics
