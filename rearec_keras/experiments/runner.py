"""Reproducible training runs: data, model, run directory, resume, metrics.

`train_run(config, run_dir)` is what `rearec-keras train` does. The run
directory holds:

- `config.json`: the resolved `RunConfig`;
- `data.json`: dataset and split statistics (with every filtering step);
- `log.csv` and `tensorboard/`: one row / event per epoch (loss, validation
  metrics);
- `best.keras`: the model of the best validation epoch;
- `state.json`: early-stopping state (best epoch and value, patience left);
- `backup/`: Keras `BackupAndRestore` checkpoints of the last two finished
  epochs (removed when training ends);
- `metrics.json`: valid and test metrics of the best model, also per
  reasoning step; `results.md`: the same as a table.

Re-running on a directory whose training was killed resumes from the last
finished epoch; a finished run is not trained again.
"""

import json
import math
import sys
import time
from pathlib import Path

from rearec_keras.experiments.config import EXECUTION_KEYS
from rearec_keras.experiments.config import MODEL_KEYS
from rearec_keras.experiments.config import TEXT_BACKBONES
from rearec_keras.experiments.config import TEXT_ENCODER_FEATURES
from rearec_keras.experiments.config import TEXT_MODEL_KEYS
from rearec_keras.experiments.config import TEXT_SETTINGS
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import lenient_paths
from rearec_keras.experiments.config import parse_metric


class RunError(RuntimeError):
    """A run directory cannot be used as asked (e.g. another config)."""


def _log(verbose, message):
    # Progress goes to stdout: stderr is kept for errors (one line each).
    if verbose:
        print(message, flush=True)


# ----------------------------------------------------------------------
# Data.


def load_dataset(config: RunConfig, verbose=0):
    """The `InteractionDataset` the config names, preprocessed as asked."""
    from rearec_keras import data
    from rearec_keras import datasets

    options = dict(config.dataset_options)
    _log(verbose, f"loading {config.dataset}" + (f" from {config.data_path}" if config.data_path else ""))
    if config.dataset in ("ml-100k", "ml-1m"):
        dataset = datasets.load_movielens(config.dataset, config.data_path, **options)
    elif config.dataset == "recbole":
        dataset = datasets.load_recbole_atomic(config.data_path, **options)
    elif config.dataset == "amazon":
        if "category" not in options:
            raise ConfigError("dataset=amazon needs dataset_options.category (e.g. Video_Games)")
        dataset = datasets.load_amazon_reviews_2023(config.data_path, **options)
    elif config.dataset == "yelp":
        dataset = datasets.load_yelp(config.data_path, **options)
    else:
        dataset = datasets.load_interactions(config.data_path, **options)
    if config.rating_threshold is not None or config.k_core is not None:
        dataset = data.preprocess(
            dataset, rating_threshold=config.rating_threshold, k_core=config.k_core
        )
    return dataset


def make_split(config: RunConfig, dataset):
    from rearec_keras import data

    if config.split == "leave_one_out":
        return data.leave_one_out(dataset, max_length=config.max_length)
    if config.split == "temporal":
        return data.temporal_split(
            dataset, span_fractions=config.temporal_fractions, max_length=config.max_length
        )
    return data.predefined_split(dataset, max_length=config.max_length)


def prepare_data(config: RunConfig, verbose=0):
    """`(dataset, split)` for a config, with progress lines on stderr."""
    dataset = load_dataset(config, verbose)
    _log(verbose, f"  {dataset.num_interactions:,} interactions, {dataset.num_users:,} users, "
                  f"{dataset.num_items:,} items")
    split = make_split(config, dataset)
    _log(verbose, f"  {split}")
    return dataset, split


def data_statistics(dataset, split) -> dict:
    """`data.json`: both `statistics()` are JSON-ready dicts."""
    return {"dataset": dataset.statistics(), "split": split.statistics()}


# ----------------------------------------------------------------------
# Model.


def item_features_for(config: RunConfig, split, verbose=0):
    """The frozen item features a text backbone trains on, or None for the
    id backbones (`sasrec`, `bert4rec`).

    `config.text_features="minilm"` encodes the items' text with
    `rearec_keras.text.item_text_features` (cached on disk, so computed once
    per dataset); otherwise it is the path of a `.npy` matrix with
    `split.num_items` rows (row `i - 1` is item `i`, the split's internal id
    order) or `split.num_items + 1` (row 0 padding, dropped). `pca_dim`
    reduces either to that many principal components.

    Returns:
        A float32 `[split.num_items, F]` matrix; `ConfigError` if the
        features cannot be had or do not fit the split.
    """
    import numpy as np

    if config.backbone not in TEXT_BACKBONES:
        return None
    num_items = int(split.num_items)
    if config.text_features in TEXT_ENCODER_FEATURES:
        from rearec_keras.text import item_text_features

        _log(verbose, f"item text features ({config.text_features}"
                      + (f", PCA to {config.pca_dim}" if config.pca_dim else "") + ")")
        try:
            features = item_text_features(split, pca_dim=config.pca_dim,
                                          verbose=1 if verbose and verbose > 1 else 0)
        except (ValueError, KeyError, ImportError) as e:
            raise ConfigError(
                f"cannot compute text_features={config.text_features!r} for "
                f"dataset={config.dataset!r}: {e} (pass --text-features FILE.npy with your own "
                "[num_items, F] features)"
            ) from None
        source = f"text_features={config.text_features!r}"
        features = np.asarray(features)
        pca_done = True
    else:
        path = Path(config.text_features).expanduser()
        if not path.is_file():
            raise ConfigError(f"text_features file not found: {config.text_features}")
        _log(verbose, f"item features from {path}")
        try:
            features = np.load(path, allow_pickle=False)
        except Exception as e:  # not a .npy file, or an object array
            raise ConfigError(
                f"text_features file {path} is not a readable .npy matrix: {e}"
            ) from None
        source = f"text_features file {path}"
        pca_done = False
    from rearec_keras.layers.text_adaptors import check_item_features

    try:  # shape, dtype, row count and finite values; row 0 becomes padding
        features = check_item_features(features, num_items)[1:]
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    if config.pca_dim is not None and not pca_done:
        from rearec_keras.text import pca

        try:
            features = np.asarray(pca(features, config.pca_dim), dtype="float32")
        except ValueError as e:
            raise ConfigError(f"pca_dim={config.pca_dim} for {source}: {e}") from None
    return features


def build_model(config: RunConfig, num_items: int, item_frequencies=None, item_features=None):
    """The (uncompiled) model a config describes, built.

    `item_frequencies` (`split.train_item_counts()`) are needed when the
    config samples `popularity` or `in_batch` negatives; `item_features`
    (`item_features_for(config, split)`) by the text backbones (`unisrec`,
    `morec`).
    """
    from rearec_keras import models

    kwargs = {key: getattr(config, key) for key in MODEL_KEYS}
    kwargs["dtype"] = config.precision
    if config.negatives != "full":
        kwargs["item_frequencies"] = item_frequencies  # the model says if it needs them
    base = config.learning == "base"
    if config.backbone in TEXT_BACKBONES:
        if item_features is None:
            raise ConfigError(
                f"backbone={config.backbone!r} needs item features: pass "
                "item_features=item_features_for(config, split)"
            )
        kwargs.update({key: getattr(config, key) for key in TEXT_MODEL_KEYS[config.backbone]})
        kwargs["item_features"] = item_features
        classes = {"unisrec": (models.UniSRec, models.ReaUniSRec),
                   "morec": (models.MoRec, models.ReaMoRec)}
    else:
        classes = {"sasrec": (models.SASRec, models.ReaSASRec),
                   "bert4rec": (models.BERT4Rec, models.ReaBERT4Rec)}
    cls = classes[config.backbone][0 if base else 1]
    if not base:
        kwargs.update(reasoning_steps=config.reasoning_steps, learning=config.learning)
    try:
        model = cls(num_items, **kwargs)
    except ValueError as e:
        if config.backbone not in TEXT_BACKBONES:
            raise
        # e.g. features of another catalog passed by hand
        raise ConfigError(f"{config.describe()}: {e}") from None
    model.build((None, config.max_length))
    return model


def compiled_model(config: RunConfig, num_items: int, item_frequencies=None, item_features=None):
    """`build_model`, compiled with Adam at `config.learning_rate`, created
    in the scope of `config.strategy` (fit it in `strategy_scope(config)`)."""
    import keras

    with strategy_scope(config):
        model = build_model(config, num_items, item_frequencies, item_features)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return model


def run_strategy(config: RunConfig):
    """The strategy object of `config.strategy` (None for `default`), made
    once per process; `ConfigError` if the active backend cannot run it.
    `multi_worker` must be made before any TensorFlow op (`train_run` makes
    it first)."""
    from rearec_keras import distribute

    try:
        return distribute.make_strategy(config.strategy)
    except distribute.StrategyError as e:
        raise ConfigError(str(e)) from None


def strategy_scope(config: RunConfig):
    """The context manager to create and fit a model of `config` in."""
    from rearec_keras import distribute

    return distribute.distribution_scope(run_strategy(config))


def training_dataset(config: RunConfig, part):
    """The training `SplitPart` batched and shuffled as the config says
    (fit it with `shuffle=False`: the dataset shuffles itself).

    `config.batch_size` is the global batch. Under a strategy with several
    replicas it must split evenly between them, and the last partial batch
    of an epoch is dropped (a different remainder each epoch, as the order
    reshuffles), so that every replica gets the same number of examples;
    `multi_worker` shards each batch between the workers.
    """
    from rearec_keras import distribute

    strategy = run_strategy(config)
    replicas = distribute.num_replicas(strategy)
    if replicas > 1:
        try:
            distribute.check_global_batch(config.batch_size, strategy)
        except distribute.StrategyError as e:
            raise ConfigError(str(e)) from None
        if len(part.targets) < config.batch_size:
            raise ConfigError(
                f"the training data has {len(part.targets):,} examples, fewer than one global "
                f"batch (batch_size={config.batch_size}) over {replicas} replicas"
            )
    dataset = part.as_dataset(config.batch_size, shuffle=True, seed=config.seed,
                              drop_remainder=replicas > 1)
    return distribute.prepare_dataset(dataset, strategy)


def monitor_name(config: RunConfig) -> str:
    """The epoch-log key of the validation metric selecting the best epoch,
    e.g. `val_ndcg@20`."""
    metric, k = parse_metric(config.monitor)
    return f"val_{metric}@{k}"


def validation_callback(config: RunConfig, part):
    """Full-ranking evaluation of `part` after every epoch (puts
    `monitor_name(config)` and the other `val_` metrics into the logs).

    Under a strategy the model scores each batch with a direct call: Keras'
    `predict_on_batch` of a model made under `MirroredStrategy` runs the
    whole batch on every replica and returns the rows once per replica.
    """
    from rearec_keras.evaluation import RankingEvaluationCallback

    score_fn = None if config.strategy == "default" else _direct_scores
    return RankingEvaluationCallback(part, ks=config.ks, batch_size=config.eval_batch_size,
                                     score_fn=score_fn)


def _direct_scores(model, histories):
    return model(histories, training=False)


def check_catalog(model, split):
    """Raises `RunError` if a model's catalog differs from the data's."""
    if model.num_items != split.num_items:
        raise RunError(
            f"the model scores {model.num_items:,} items but the data has {split.num_items:,}; "
            "use the dataset and preprocessing the model was trained on"
        )


# ----------------------------------------------------------------------
# Evaluation of a trained model.


def step_metrics(model, part, ks, batch_size=512):
    """Metrics of the model's inference scores and of each reasoning state.

    Returns `{"final": {...}, "steps": [{...} for r_0..r_K]}`, where step
    `s` ranks with `r_s` alone (the last state of an `s`-step run). One
    encoder pass serves all of them.
    """
    from rearec_keras.evaluation import ranking_metrics
    from rearec_keras.experiments.analysis import rank_targets

    step_ranks, final_ranks, _ = rank_targets(model, part, batch_size)
    return {
        "final": ranking_metrics(final_ranks, ks=ks),
        "steps": [ranking_metrics(ranks, ks=ks) for ranks in step_ranks],
    }


# ----------------------------------------------------------------------
# Callbacks.


def _tracker_class():
    import keras

    class RunTracker(keras.callbacks.Callback):
        """Early stopping + best-model checkpoint whose state survives a kill.

        After every epoch: if `logs[monitor]` improved, saves the model to `best_path`; stops training after
        `patience` epochs without improvement; writes its state to
        `state_path` so a resumed run continues the same count. Must come
        after the callback that puts `monitor` into the logs.
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
                raise RunError(
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
            if self.state["wait"] >= self.patience:
                self.state["stopped_early"] = True
                self.model.stop_training = True
            self._write()

        def on_train_end(self, logs=None):
            self.state["finished"] = True
            self._write()

    return RunTracker


def _epoch_times_class():
    import keras

    class EpochTime(keras.callbacks.Callback):
        """Adds `epoch_seconds` (training + validation) to the epoch logs."""

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self._start

    return EpochTime


# ----------------------------------------------------------------------
# The run.


def settings_diff(previous: dict, current: dict, ignore=(), nested=()) -> list:
    """Sorted keys whose values differ between two settings dicts, except
    `ignore`; the keys in `nested` hold dicts compared key by key (`ignore`
    applies inside them too)."""
    diff = []
    for key in set(previous) | set(current):
        old, new = previous.get(key), current.get(key)
        if key in ignore or old == new:
            continue
        if key in nested and isinstance(old, dict) and isinstance(new, dict):
            diff += settings_diff(old, new, ignore=ignore)
        else:
            diff.append(key)
    return sorted(diff)


def _check_run_dir(config: RunConfig, run_dir: Path):
    saved = run_dir / "config.json"
    if saved.exists():
        previous = RunConfig.with_defaults(json.loads(saved.read_text()))
        ignore = EXECUTION_KEYS
        if config.backbone not in TEXT_BACKBONES:  # settings an id backbone ignores
            ignore = ignore + TEXT_SETTINGS
        diff = settings_diff(previous, config.to_dict(), ignore=ignore)
        if diff:
            raise RunError(
                f"run directory {run_dir} holds a run with another config "
                f"(differs in {', '.join(diff)}); pass a new --run-dir"
            )
        return True
    return False


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

    # First: multi_worker configures its collective ops before any op runs.
    strategy = run_strategy(config)
    run_dir = distribute.worker_dir(run_dir, strategy)
    resumed = _check_run_dir(config, run_dir)
    metrics_path = run_dir / "metrics.json"
    if resumed and metrics_path.exists():
        _log(verbose, f"run {run_dir} is already finished; reading its metrics")
        return json.loads(metrics_path.read_text())
    if strategy is not None:
        role = distribute.worker_role(strategy)
        _log(verbose, f"strategy {config.strategy}: {distribute.num_replicas(strategy)} replicas, "
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
    tracker = _tracker_class()(monitor, config.patience, best_path, state_path)
    start = time.perf_counter()
    if not tracker.state["finished"]:
        if tracker.state["epochs_done"]:
            _log(verbose, f"resuming {run_dir} after epoch {tracker.state['epochs_done']}")
        model = compiled_model(config, split.num_items, split.train_item_counts(), item_features)
        from rearec_keras.utils.optional import has_tensorflow

        callbacks = [
            validation_callback(config, split.valid),
            _epoch_times_class()(),
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
        fit_verbose = verbose if verbose != 1 or sys.stdout.isatty() else 2
        with strategy_scope(config):
            model.fit(
                training_dataset(config, split.train),
                epochs=config.epochs,
                callbacks=callbacks,
                shuffle=False,
                verbose=fit_verbose,
            )
    train_seconds = time.perf_counter() - start
    if not best_path.exists():
        raise RunError(
            f"no epoch of {run_dir} reached a finite {monitor}; nothing to evaluate"
        )
    _log(verbose, f"evaluating the best model (epoch {tracker.state['best_epoch']})")
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


def load_run(run_dir_or_model):
    """`(config or None, model)` from a run directory or a `.keras` file."""
    import keras

    import rearec_keras.models  # noqa: F401  (registers the classes to load)

    path = Path(run_dir_or_model)
    if path.is_dir():
        config_path, model_path = path / "config.json", path / "best.keras"
        if not config_path.exists():
            raise RunError(f"{path} is not a run directory (no config.json)")
        if not model_path.exists():
            raise RunError(f"run {path} has no best.keras yet (no finished epoch)")
        # The model holds its item features: a moved text_features file
        # does not stop a finished run from being read.
        with lenient_paths():
            config = RunConfig.from_dict(json.loads(config_path.read_text()),
                                         source=str(config_path))
    elif path.is_file():
        config, model_path = None, path
    else:
        raise RunError(f"no run directory or model file at {path}")
    try:
        model = keras.saving.load_model(model_path)
    except Exception as e:  # corrupt or foreign file
        raise RunError(f"cannot load a model from {model_path}: {e}") from None
    return config, model


# ----------------------------------------------------------------------
# Tables.


def metric_columns(ks) -> list:
    """`[(metric key, table header)]` of the tables: NDCG then Recall at
    each cut-off, e.g. `("ndcg@10", "N@10")`."""
    return [(f"ndcg@{k}", f"N@{k}") for k in ks] + [(f"recall@{k}", f"R@{k}") for k in ks]


def results_table(metrics: dict, ks) -> str:
    """A small markdown table: one row per part (valid, test) present in
    `metrics`, NDCG and Recall at `ks` as columns; then the test (or only)
    part's NDCG at the largest cut-off ranking with each reasoning state."""
    parts = [p for p in ("valid", "test") if p in metrics]
    columns = metric_columns(ks)
    lines = ["| split | " + " | ".join(c[1] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for part in parts:
        row = metrics[part]["final"]
        lines.append(f"| {part} | " + " | ".join(f"{row[c[0]]:.4f}" for c in columns) + " |")
    steps = metrics[parts[-1]]["steps"]
    if len(steps) > 1:
        key = f"ndcg@{max(ks)}"
        lines.append("")
        lines.append(f"{parts[-1]} N@{max(ks)} ranking with one reasoning state: "
                     + "  ".join(f"r_{s} {m[key]:.4f}" for s, m in enumerate(steps)))
    return "\n".join(lines)
