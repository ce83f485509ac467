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

from rearec_keras.data.vocabulary import Vocabulary
from rearec_keras.experiments.config import ConfigError
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
from rearec_keras.utils.files import CorruptFileError
from rearec_keras.utils.files import RunLock
from rearec_keras.utils.files import write_text_atomic


def train_run(config: RunConfig, run_dir, *, verbose=1, split=None, dataset=None,
              item_features=None, phases=None):
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
        phases: for a method with staged phases (`run_stages`), the stages
            to run, a prefix of them (e.g. `("spt",)`: LARES' pre-training
            alone); running again with more extends the run. None: all.

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
        return _train_run(config, run_dir, setup, lock, verbose, split, dataset, item_features,
                          phases)
    finally:
        lock.release()


def _train_run(config, run_dir, setup, lock, verbose, split, dataset, item_features, phases):
    import keras

    from rearec_keras import distribute

    strategy = setup.strategy
    resumed = check_run_dir(config, run_dir)
    stages = run_stages(config, phases)
    metrics_path = run_dir / "metrics.json"
    if resumed and metrics_path.exists():
        done = read_run_file(run_dir, "metrics.json")
        if set(stages) <= set(done.get("phases_run", ())):
            log_progress(verbose, f"run {run_dir} is already finished; reading its metrics")
            if Vocabulary.load(run_dir) is None:  # a run from before runs stored one
                _, split = (dataset, split) if split is not None else prepare_data(config, verbose)
                check_data(run_dir, split)
                Vocabulary.from_split(split).save(run_dir)
            return done
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
    # The dataset's own ids and titles: what `recommend` and exports answer with.
    Vocabulary.from_split(split).save(run_dir)

    def new_model():
        return compiled_model(config, split.num_items, split.train_item_counts(), item_features,
                              setup=setup)

    if not stages:
        metrics = _train_stage(config, run_dir, setup, split, split.train, new_model, verbose)
    else:
        metrics = _train_stages(config, run_dir, setup, split, new_model, stages, verbose)
    write_text_atomic(metrics_path, json.dumps(metrics, indent=2))
    write_text_atomic(run_dir / "results.md", results_table(metrics, config.ks) + "\n")
    return metrics


def run_stages(config: RunConfig, phases=None) -> tuple:
    """The phases `train_run` runs as separate stages (the method's
    `run_phases`, e.g. LARES' `("spt", "rpt")`), cut to `phases` (a prefix
    of them, e.g. `("spt",)`); () for a one-`fit` run."""
    method = config.method
    stages = tuple(method.run_phases(
        {name: config.method_settings[name] for name in method.setting_names()}))
    if phases is None:
        return stages
    phases = tuple(phases)
    if not stages:
        raise ConfigError(f"learning={config.learning!r} trains in one stage; --phases applies "
                          "to methods with staged phases (lares: spt,rpt)")
    if not phases or phases != stages[:len(phases)]:
        raise ConfigError(f"--phases {','.join(phases) or '(none)'}: learning="
                          f"{config.learning!r} runs the stages {','.join(stages)} in this order; "
                          f"pass a prefix of them (e.g. --phases {stages[0]})")
    return phases


def _train_stage(config, stage_dir, setup, split, train, new_model, verbose, prepare=None,
                 phase=None):
    """One early-stopped, resumable fit in `stage_dir` (its `best.keras`,
    `state.json`, `log.csv`, `backup/`, `tensorboard/`), then the metrics of
    its best model. `prepare(model)` readies a new model before training
    (e.g. the previous stage's weights)."""
    import keras

    from rearec_keras import training
    from rearec_keras.utils.optional import has_tensorflow

    monitor = monitor_name(config)
    best_path = stage_dir / "best.keras"
    tracker = training.RunTracker(monitor, config.patience, best_path, stage_dir / "state.json")
    start = time.perf_counter()
    if not tracker.state["finished"]:
        if tracker.state["epochs_done"]:
            log_progress(verbose, f"resuming {stage_dir} after epoch {tracker.state['epochs_done']}")
        model = new_model()
        if prepare is not None:
            prepare(model)
        callbacks = [
            training.EpochTime(),
            tracker,
            training.EpochLog(stage_dir / "log.csv"),
            # TensorBoard event files need TensorFlow (tf.summary): a JAX or
            # PyTorch install without it gets log.csv only.
            *([keras.callbacks.TensorBoard(str(stage_dir / "tensorboard"), write_graph=False)]
              if has_tensorflow() else []),
            # Last: an epoch counts as done once everything above recorded
            # it. Two checkpoints: if the newest cannot be read, the run
            # resumes from the one before (and log.csv is cut back to it).
            training.RunBackup(stage_dir / "backup", keep=2),
        ]
        try:  # the inputs the model reads (with the history timestamps for a time bias)
            train = train.for_model(model)
        except ValueError as e:
            raise ConfigError(f"{config.describe()} on {config.dataset} ({config.split}): {e}") \
                from None
        training.fit(model, train, split.valid, setup, callbacks=callbacks, verbose=verbose)
    train_seconds = time.perf_counter() - start
    if not best_path.exists():
        raise RunError(
            f"no epoch of {stage_dir} reached a finite {monitor}; nothing to evaluate"
        )
    log_progress(verbose, f"evaluating the best model of {stage_dir} "
                          f"(epoch {tracker.state['best_epoch']})")
    check_model_file(best_path, REMEDIES["best.keras"])
    best = keras.saving.load_model(best_path)
    return {
        "model": config.describe(),
        "dataset": config.dataset,
        "split": config.split,
        "num_items": split.num_items,
        **({"phase": phase} if phase else {}),
        "best_epoch": tracker.state["best_epoch"],
        "epochs_run": tracker.state["epochs_done"],
        "stopped_early": tracker.state["stopped_early"],
        "monitor": monitor,
        "best_valid_monitor": tracker.state["best_value"],
        "train_seconds_this_session": round(train_seconds, 1),
        "valid": step_metrics(best, split.valid, config.ks, config.eval_batch_size, verbose),
        "test": step_metrics(best, split.test, config.ks, config.eval_batch_size, verbose),
    }


def _train_stages(config, run_dir, setup, split, new_model, stages, verbose):
    """The method's stages in order, each in `run_dir/<phase>/`, each from
    the previous stage's best model; the run's `best.keras` and top-level
    metrics are the stage with the best validation `monitor` (ties: the
    later stage). `metrics["phases"]` holds every stage's own."""
    import shutil

    import keras
    import numpy as np

    results = {}
    previous = None
    for name in stages:
        stage_dir = run_dir / name
        stage_dir.mkdir(parents=True, exist_ok=True)
        stage_metrics = stage_dir / "metrics.json"
        if stage_metrics.exists():
            results[name] = read_run_file(stage_dir, "metrics.json")
            previous = stage_dir / "best.keras"
            continue
        log_progress(verbose, f"phase {name} ({stages.index(name) + 1} of {len(stages)})")
        train = split.train
        prepare = None
        record = None
        if previous is not None:
            source = previous
            check_model_file(source, REMEDIES["best.keras"])
            # The rows this stage trains on: chosen once with the previous
            # stage's best model and kept (a resumed stage reuses them).
            kept_path = stage_dir / "kept_rows.npy"
            if (stage_dir / "filter.json").exists():
                record = read_run_file(stage_dir, "filter.json")
                kept = _read_kept_rows(kept_path, record, len(split.train.targets))
            else:
                chosen = keras.saving.load_model(source)
                outcome = chosen.method.phase_data(chosen, name, split.train)
                if outcome is not None:
                    kept, record = outcome
                    # The rows first, the record last: filter.json marks both done.
                    partial = stage_dir / ".kept_rows.npy.tmp"
                    with open(partial, "wb") as f:
                        np.save(f, np.asarray(kept, dtype=np.int64))
                    partial.replace(kept_path)
                    write_text_atomic(stage_dir / "filter.json", json.dumps(record, indent=2))
                    log_progress(verbose, f"phase {name}: {record['kept']:,} of "
                                          f"{record['rows']:,} training rows kept ({record['reason']})")
                else:
                    kept = None
                del chosen
            if record is not None:
                if len(kept) == 0:
                    raise RunError(f"phase {name} of {run_dir}: no training row was kept "
                                   f"({record['reason']}); see {stage_dir / 'filter.json'}")
                train = split.train.subset(kept)

            def prepare(model, name=name, source=source):
                model.set_weights(keras.saving.load_model(source).get_weights())
                model.set_phase(name, pin=True)
        else:
            def prepare(model, name=name):
                model.set_phase(name, pin=True)
        results[name] = _train_stage(config, stage_dir, setup, split, train, new_model, verbose,
                                     prepare=prepare, phase=name)
        if record is not None:
            results[name]["filter"] = record
        write_text_atomic(stage_metrics, json.dumps(results[name], indent=2))
        previous = stage_dir / "best.keras"
    selected = max(reversed(stages), key=lambda n: results[n]["best_valid_monitor"])
    shutil.copyfile(run_dir / selected / "best.keras", run_dir / "partial-best.keras")
    (run_dir / "partial-best.keras").replace(run_dir / "best.keras")
    metrics = {key: value for key, value in results[selected].items() if key != "filter"}
    metrics.update(selected_phase=selected, phases_run=list(stages), phases=results)
    return metrics


def _read_kept_rows(path, record, num_rows):
    """A stage's saved training-row indices, checked against its record."""
    import numpy as np

    remedy = REMEDIES["filter.json"]
    try:
        kept = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CorruptFileError(f"{path} is missing but {path.parent / 'filter.json'} "
                               f"exists; {remedy}") from None
    except (OSError, ValueError, EOFError) as e:
        raise CorruptFileError(f"{path} cannot be read ({e}); {remedy}") from None
    if (kept.ndim != 1 or kept.dtype.kind not in "iu" or len(kept) != record.get("kept")
            or (len(kept) and (kept.min() < 0 or kept.max() >= num_rows))):
        raise CorruptFileError(
            f"{path} does not hold the {record.get('kept')} row indices in [0, {num_rows}) "
            f"that filter.json records; {remedy}")
    return kept
