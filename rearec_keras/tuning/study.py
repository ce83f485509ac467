"""A tuning study: KerasTuner search, trials table, plots, best model.

`run_study(config, out_dir, ...)` is what `rearec-keras tune` does. The
study directory holds:

- `study.json`: the base config, algorithm and search space (a re-run with
  other settings is refused; `max_trials` may grow to extend a study);
- `kt/`: KerasTuner's project (oracle state and one `trial_*` folder per
  trial with its best-epoch weights and `worker.json`: which process ran it,
  how long it took). Re-running the same command continues the study:
  finished trials are not repeated, a killed trial is run again;
- `trials.csv`: one row per trial (status, worker, hyperparameters,
  objective, best epoch, the other validation metrics at that epoch);
- `sensitivity.png`: the objective against each varied hyperparameter (the
  paper's Fig. 6);
- `best/`: `best.keras` (from `get_best_models()`), its `config.json` and
  `metrics.json` (valid and test, per reasoning step);
- `defaults/`: a run of the base config with the same budget (optional; a
  trial with exactly the default values stands in for it when there is
  one), and `summary.json` / `summary.md`: best values and the gain over it.

Distributed tuning uses KerasTuner's chief/worker mode: processes started
with the same arguments and `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`
and `KERASTUNER_TUNER_ID` (`chief` for the one that holds the oracle,
`tuner0`, `tuner1`, ... for the workers) share one oracle; the chief writes
the reports once every trial has ended.
"""

import json
import math
import os
import time
import warnings
from pathlib import Path

from rearec_keras.data.vocabulary import Vocabulary
from rearec_keras.experiments.config import EXECUTION_KEYS
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import config_check
from rearec_keras.experiments.prepare import log_progress
from rearec_keras.experiments.runner import RunError
from rearec_keras.experiments.runner import settings_diff
from rearec_keras.tuning.search_space import SearchSpace
from rearec_keras.tuning.search_space import SearchSpaceError
from rearec_keras.utils.progress import Progress
from rearec_keras.utils.progress import fit_verbosity
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_int

ALGORITHMS = ("grid", "random", "bayesian", "hyperband")
PROJECT = "kt"


# ----------------------------------------------------------------------
# Tuners.


def _tuner_classes():
    import keras_tuner

    class _Recorded:
        """Writes `worker.json` (tuner id, process, seconds) into each
        trial's folder, so a distributed study shows who ran what, and
        moves the trials' `progress` (a `Progress`, set by `run_study`)."""

        progress = None

        def on_trial_begin(self, trial):
            self._trial_start = time.perf_counter()
            super().on_trial_begin(trial)

        def on_trial_end(self, trial):
            record = {
                "tuner_id": self.tuner_id,
                "pid": os.getpid(),
                "seconds": round(time.perf_counter() - self._trial_start, 2),
            }
            path = Path(self.get_trial_dir(trial.trial_id)) / "worker.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
            super().on_trial_end(trial)
            if self.progress is not None:
                self.progress.add(1)

    return {
        "grid": type("GridSearch", (_Recorded, keras_tuner.GridSearch), {}),
        "random": type("RandomSearch", (_Recorded, keras_tuner.RandomSearch), {}),
        "bayesian": type("BayesianOptimization", (_Recorded, keras_tuner.BayesianOptimization), {}),
        "hyperband": type("Hyperband", (_Recorded, keras_tuner.Hyperband), {}),
    }


def make_tuner(hypermodel, algorithm="random", directory="tuning", project_name=PROJECT,
               max_trials=None, hyperband_factor=3, seed=None, overwrite=False, **kwargs):
    """A KerasTuner tuner for a `ReaRecHyperModel`.

    Args:
        hypermodel: a `ReaRecHyperModel`.
        algorithm: `grid` (every combination, or the first `max_trials`),
            `random`, `bayesian` (Gaussian process; needs scikit-learn and
            scipy) or `hyperband` (budget `config.epochs` per model,
            reduction `hyperband_factor`; `max_trials` does not apply).
        directory, project_name: where the study lives (re-used unless
            `overwrite`).
        max_trials: trials to run; default: the whole grid for `grid`, 10
            for `random` / `bayesian`.
        seed: the oracle's seed (default `config.seed`).
        **kwargs: passed to the KerasTuner class.
    """
    config = hypermodel.config
    check_search_settings(hypermodel.search_space, config, algorithm, max_trials, hyperband_factor)
    seed = config.seed if seed is None else seed
    common = dict(objective=hypermodel.objective, directory=str(directory),
                  project_name=project_name, overwrite=overwrite, seed=seed, **kwargs)
    classes = _tuner_classes()
    if algorithm == "grid":
        return classes["grid"](hypermodel, max_trials=max_trials, **common)
    if algorithm == "hyperband":
        return classes["hyperband"](hypermodel, max_epochs=config.epochs,
                                    factor=hyperband_factor, **common)
    return classes[algorithm](hypermodel, max_trials=max_trials or 10, **common)


def check_search_settings(space, config, algorithm, max_trials=None, hyperband_factor=3):
    """Raises `ConfigError` / `SearchSpaceError` for settings `make_tuner`
    cannot use (checked before any data is loaded or file written)."""
    config_check(check_choice, "algorithm", algorithm, ALGORITHMS)
    if max_trials is not None:
        config_check(check_int, "max_trials", max_trials, 1)
    if algorithm == "grid":
        continuous = space.continuous()
        if continuous:
            raise SearchSpaceError(
                f"grid search needs a list of values or a stepped range for every setting; "
                f"{', '.join(continuous)} is a continuous range (add a step or use random/bayesian)"
            )
    elif algorithm == "hyperband":
        config_check(check_int, "hyperband_factor", hyperband_factor, 2)
        if config.epochs < 2:
            raise SearchSpaceError("hyperband needs epochs >= 2 (its largest budget per model)")
    elif algorithm == "bayesian":
        try:
            import scipy  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as e:
            raise SearchSpaceError(
                f"bayesian search needs scikit-learn and scipy ({e}); "
                "pip install scikit-learn scipy"
            ) from None


# ----------------------------------------------------------------------
# Reading a finished (or partial) study.


def trials_table(tuner):
    """A pandas DataFrame with one row per trial, best objective first."""
    import pandas as pd

    objective = tuner.oracle.objective.name
    rows = []
    for trial in tuner.oracle.trials.values():
        row = {"trial_id": trial.trial_id, "status": str(trial.status)}
        record = Path(tuner.get_trial_dir(trial.trial_id)) / "worker.json"
        info = json.loads(record.read_text()) if record.exists() else {}
        row["worker"] = info.get("tuner_id")
        row["seconds"] = info.get("seconds")
        for name, value in trial.hyperparameters.values.items():
            if not name.startswith("tuner/"):
                row[name] = value
        score = trial.score
        row["objective"] = float(score) if score is not None else math.nan
        row["best_epoch"] = trial.best_step + 1 if trial.best_step is not None and score is not None else None
        for name in sorted(trial.metrics.metrics):
            if name == objective or not name.startswith("val_"):
                continue
            value = math.nan
            for observation in trial.metrics.get_history(name):
                if trial.best_step is not None and observation.step == trial.best_step:
                    value = float(observation.value[0])
            row[name] = value
        if "tuner/epochs" in trial.hyperparameters.values:
            row["epochs_budget"] = trial.hyperparameters.values["tuner/epochs"]
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.rename(columns={"objective": objective})
    return table.sort_values(objective, ascending=False, na_position="last").reset_index(drop=True)


def plot_sensitivity(table, names, objective, path, title=None):
    """The paper's Fig. 6: the objective against each hyperparameter in
    `names` (one panel each). Dots are trials; the line joins, for every
    value, the best trial that used it; the star is the best trial. Axes
    are logarithmic where the values span a factor of 10 or more.

    Returns the settings plotted: those of `names` with two or more values
    among the finished trials (none: no file is written)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    done = table[np.isfinite(table[objective].astype(float))]
    names = [n for n in names if n in done and done[n].nunique() > 1]
    if not names:
        return []
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    best = done.iloc[done[objective].astype(float).argmax()]
    label = objective.replace("val_", "").replace("ndcg", "NDCG").replace("recall", "Recall")
    for ax, name in zip(axes[0], names):
        numeric = np.issubdtype(done[name].dtype, np.number)
        if numeric:
            x = done[name].astype(float)
            ax.scatter(x, done[objective], s=14, color="0.6", label="trials")
            per_value = done.groupby(name)[objective].max().sort_index()
            ax.plot(per_value.index.astype(float), per_value.values, "o-", color="C0",
                    label="best per value")
            ax.plot([float(best[name])], [best[objective]], "*", color="C3", markersize=13,
                    label="best trial")
            positive = (x > 0).all()
            if positive and x.max() / x.min() >= 10:
                ax.set_xscale("log")
            elif np.issubdtype(done[name].dtype, np.integer):
                ax.set_xticks(sorted(done[name].unique()))
        else:
            per_value = done.groupby(name)[objective].max()
            ax.bar(range(len(per_value)), per_value.values, color="C0")
            ax.set_xticks(range(len(per_value)), per_value.index)
        ax.set_xlabel(name)
        ax.set_ylabel(f"{label} (valid)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return names


# ----------------------------------------------------------------------
# The study.


def _check_study_dir(out_dir: Path, record: dict):
    path = out_dir / "study.json"
    if path.exists():
        # A larger max_trials extends a study; anything else is another study.
        # The strategy (how trials run) may change too.
        previous = json.loads(path.read_text())
        if isinstance(previous.get("config"), dict):
            previous["config"] = RunConfig.with_defaults(previous["config"])
        diff = settings_diff(previous, record,
                             ignore=("max_trials", *EXECUTION_KEYS), nested=("config",))
        if diff:
            raise RunError(
                f"study directory {out_dir} holds a study with other settings "
                f"(differs in {', '.join(diff)}); pass a new --out or --overwrite"
            )


def _distributed_role():
    """None, `"chief"` or `"worker"`, from KerasTuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


class _trial_progress:
    """Context: a `Progress` over the trials this process will run, moved by
    the tuner at the end of each trial. The target is the trials left
    (`max_trials` less those already ended, for a continued study); unknown
    for hyperband and a grid without `max_trials`. None in a distributed
    study (each process sees only its share; KerasTuner's lines remain)."""

    def __init__(self, tuner, algorithm, role, verbose):
        self.tuner = tuner
        self.progress = None
        if role is not None or not verbose:
            return
        max_trials = getattr(tuner.oracle, "max_trials", None)
        total = None
        if algorithm != "hyperband" and max_trials is not None:
            ended = sum(1 for trial in tuner.oracle.trials.values()
                        if str(trial.status) not in ("RUNNING", "IDLE"))
            total = max(int(max_trials) - ended, 0)
        self.progress = Progress(total, verbose, "tuning trials", unit="trial")
        self.progress.update(0)  # a terminal shows the empty bar at once

    def __enter__(self):
        self.tuner.progress = self.progress
        return self.progress

    def __exit__(self, exc_type, exc, traceback):
        self.tuner.progress = None
        if self.progress is not None:
            self.progress.__exit__(exc_type, exc, traceback)
        return False


def run_study(config: RunConfig, out_dir, *, algorithm="random", search_space=None,
              overrides=None, max_trials=None, hyperband_factor=3, baseline=True,
              overwrite=False, verbose=1, split=None, dataset=None):
    """Runs (or continues) a tuning study and writes its reports.

    Args:
        config: the base `RunConfig` (its `learning` picks the paper's grid;
            `epochs` and `patience` bound every trial).
        out_dir: the study directory (see the module docstring).
        algorithm, max_trials, hyperband_factor: see `make_tuner`.
        search_space, overrides: see `SearchSpace`.
        baseline: report the gain of the best trial over the base config
            with the same budget: True reuses a trial with exactly the default
            values when the study ran one, else trains the config in
            `out_dir/defaults`; "train" always trains it; False skips it.
        overwrite: start the study afresh.
        verbose: 0 silent; 1 KerasTuner's trial summaries, a live bar per
            epoch and a bar over the trials with an ETA in a terminal (one
            line per epoch and one summary line otherwise); 2 lines only.
        split, dataset: optional already prepared data.

    Returns:
        The summary dict (also in `summary.json`), or None in a worker
        process of a distributed study (the chief reports).
    """
    import shutil

    from rearec_keras.experiments import runner
    from rearec_keras.tuning.hypermodel import ReaRecHyperModel

    out_dir = Path(out_dir)
    space = SearchSpace(search_space, config, overrides)
    check_search_settings(space, config, algorithm, max_trials, hyperband_factor)
    record = {"config": config.to_dict(), "algorithm": algorithm, "search_space": space.to_dict(),
              "max_trials": max_trials, "hyperband_factor": hyperband_factor}
    role = _distributed_role()
    if overwrite and role:
        raise RunError("overwrite cannot be used in a distributed study (the processes share "
                       "the directory); remove it before starting the chief")
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    if role != "worker":
        _check_study_dir(out_dir, record)
    if split is None:
        dataset, split = runner.prepare_data(config, verbose)
    features = runner.item_features_for(config, split, verbose)  # text backbones only
    hypermodel = ReaRecHyperModel(
        split.num_items, config=config, search_space=space,
        item_frequencies=split.train_item_counts(), item_features=features,
    )
    tuner = make_tuner(hypermodel, algorithm, directory=out_dir, max_trials=max_trials,
                       hyperband_factor=hyperband_factor)
    if role != "worker":
        (out_dir / "study.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    log_progress(verbose, f"tuning {config.describe()} on {config.dataset}: {algorithm} search over "
                  f"{', '.join(space.names)}; objective {hypermodel.objective.name} (max); "
                  f"study directory {out_dir}")
    # A live bar per epoch in a terminal (one line per epoch otherwise), and
    # a bar over the trials with an ETA (one summary line in a log).
    with _trial_progress(tuner, algorithm, role, verbose):
        tuner.search(split.train, validation_data=split.valid, verbose=fit_verbosity(verbose))
    if role == "worker":
        log_progress(verbose, f"worker {tuner.tuner_id}: no trials left")
        return None
    return write_reports(tuner, hypermodel, split, out_dir, baseline=baseline, verbose=verbose,
                         dataset=dataset)


def write_reports(tuner, hypermodel, split, out_dir, *, baseline=True, verbose=1, dataset=None):
    """trials.csv, sensitivity.png, best/ and summary.{json,md} of a study."""
    from rearec_keras.experiments import runner

    out_dir = Path(out_dir)
    config = hypermodel.config
    objective = hypermodel.objective.name
    table = trials_table(tuner)
    table.to_csv(out_dir / "trials.csv", index=False)
    completed = table[table[objective].notna()] if not table.empty else table
    if completed.empty:
        raise RunError(
            f"no trial of the study in {out_dir} produced {objective}; see the trial messages "
            f"in {out_dir / PROJECT}"
        )
    # K in the name only when the study does not vary it.
    name = config.describe(steps="reasoning_steps" not in hypermodel.search_space.varied())
    plotted = plot_sensitivity(table, hypermodel.search_space.varied(), objective,
                               out_dir / "sensitivity.png",
                               title=f"{name} on {config.dataset}: {len(completed)} trials")

    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_config = hypermodel.trial_config(best_trial.hyperparameters)
    best_dir = out_dir / "best"
    best_dir.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        # The checkpoints hold weights only; Keras warns that the (unused)
        # optimizer state of the rebuilt model is not restored.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.get_best_models(1)[0]
    model.save(best_dir / "best.keras")
    best_config.save(best_dir / "config.json")
    Vocabulary.from_split(split).save(best_dir)  # the dataset's ids, as in every run
    best_metrics = {
        "model": best_config.describe(),
        "trial_id": best_trial.trial_id,
        "best_epoch": best_trial.best_step + 1,
        "valid": runner.step_metrics(model, split.valid, config.ks, config.eval_batch_size,
                                     verbose),
        "test": runner.step_metrics(model, split.test, config.ks, config.eval_batch_size,
                                    verbose),
    }
    (best_dir / "metrics.json").write_text(json.dumps(best_metrics, indent=2))

    summary = {
        "model": name,
        "objective": objective,
        "trials": int(len(table)),
        "completed_trials": int(len(completed)),
        "best_trial": best_trial.trial_id,
        "best_values": {n: getattr(best_config, n) for n in hypermodel.search_space.names},
        "best_valid_objective": float(best_trial.score),
        "best": {part: best_metrics[part]["final"] for part in ("valid", "test")},
        "files": {"trials": str(out_dir / "trials.csv"), "best_model": str(best_dir / "best.keras")},
    }
    if plotted:
        summary["files"]["sensitivity"] = str(out_dir / "sensitivity.png")
    if baseline:
        defaults, source = _baseline(tuner, hypermodel, split, out_dir, baseline, verbose, dataset,
                                     best_trial, best_metrics)
        summary["defaults_values"] = {n: getattr(config, n) for n in hypermodel.search_space.names}
        summary["defaults_source"] = source
        summary["defaults"] = defaults
        summary["gain_percent"] = {
            part: {m: _gain(summary["best"][part][m], summary["defaults"][part][m])
                   for m in summary["best"][part]}
            for part in ("valid", "test")
        }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out_dir / "summary.md").write_text(summary_table(summary, config.ks) + "\n")
    return summary


def _baseline(tuner, hypermodel, split, out_dir, mode, verbose, dataset, best_trial,
              best_metrics):
    """Valid/test metrics of the base config with the trials' budget, and
    where they come from. A completed full-budget trial with exactly the
    default values is the same model (same seed, same data order), so it is
    reused unless `mode == "train"`; otherwise the config is trained in
    `out_dir/defaults` (a resumable run)."""
    from rearec_keras.experiments import runner

    config = hypermodel.config
    names = hypermodel.search_space.names
    if mode != "train":
        for trial in tuner.oracle.trials.values():
            values = trial.hyperparameters.values
            if (trial.score is not None and "tuner/epochs" not in values
                    and all(values.get(n) == getattr(config, n) for n in names)):
                if trial.trial_id == best_trial.trial_id:  # already evaluated
                    return ({part: best_metrics[part]["final"] for part in ("valid", "test")},
                            f"trial {trial.trial_id}")
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Skipping variable loading")
                    model = tuner.load_model(trial)
                metrics = {part: runner.step_metrics(model, getattr(split, part), config.ks,
                                                     config.eval_batch_size, verbose)["final"]
                           for part in ("valid", "test")}
                return metrics, f"trial {trial.trial_id}"
    log_progress(verbose, "training the base config with the same budget (baseline)")
    run = runner.train_run(config, out_dir / "defaults", verbose=verbose, split=split,
                           dataset=dataset, item_features=hypermodel.item_features)
    return {part: run[part]["final"] for part in ("valid", "test")}, "defaults/"


def _gain(value, reference):
    return round(100.0 * (value - reference) / reference, 2) if reference else math.nan


def summary_table(summary, ks) -> str:
    """Markdown: best values, then valid/test metrics of best vs defaults."""
    from rearec_keras.experiments import runner

    lines = [f"{summary['model']}: {summary['completed_trials']} of {summary['trials']} trials "
             f"completed; best trial {summary['best_trial']} "
             f"({summary['objective']} {summary['best_valid_objective']:.4f})", ""]
    lines.append("best: " + ", ".join(f"{k}={v}" for k, v in summary["best_values"].items()))
    if "defaults_values" in summary:
        lines.append("defaults: " + ", ".join(f"{k}={v}" for k, v in summary["defaults_values"].items())
                     + f" (from {summary['defaults_source']})")
    lines.append("")
    columns, head = zip(*runner.metric_columns(ks))
    lines += ["| config | split | " + " | ".join(head) + " |", "|---" * (len(columns) + 2) + "|"]
    for name in ("best", "defaults"):
        for part in ("valid", "test"):
            if name in summary:
                row = summary[name][part]
                lines.append(f"| {name} | {part} | " + " | ".join(f"{row[c]:.4f}" for c in columns) + " |")
    if "gain_percent" in summary:
        for part in ("valid", "test"):
            row = summary["gain_percent"][part]
            lines.append(f"| gain | {part} | " + " | ".join(f"{row[c]:+.2f}%" for c in columns) + " |")
    return "\n".join(lines)
