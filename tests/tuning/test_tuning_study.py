"""Tiny searches end to end: best trial, best model, resume, algorithms."""

import json

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

# End-to-end runs: behind the `slow` marker (`python -m pytest -m slow`).
pytestmark = pytest.mark.slow

from rearec_keras.evaluation import evaluate
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.runner import RunError
from rearec_keras.tuning import ReaBERT4RecHyperModel
from rearec_keras.tuning import ReaRecHyperModel
from rearec_keras.tuning import ReaSASRecHyperModel
from rearec_keras.tuning import SearchSpaceError
from rearec_keras.tuning import make_tuner
from rearec_keras.tuning import run_study
from rearec_keras.tuning import study as study_module

# Learning rates far apart: the trials' objectives differ clearly.
LR_SPACE = {"learning_rate": [1e-4, 3e-3, 2e-2], "kl_weight": [0.05], "reasoning_steps": [1]}


def _count_fits(monkeypatch):
    calls = []
    original = ReaRecHyperModel.fit

    def counting(self, hp, model, *args, **kwargs):
        calls.append(dict(hp.values))
        return original(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(ReaRecHyperModel, "fit", counting)
    return calls


def test_grid_search_picks_the_best_trial_and_its_model(tmp_path, tiny_config, tiny_split):
    out = tmp_path / "grid"
    summary = run_study(tiny_config, out, algorithm="grid", search_space=LR_SPACE,
                        baseline=False, verbose=0, split=tiny_split)
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 3 and set(table["status"]) == {"COMPLETED"}
    assert sorted(table["learning_rate"]) == [1e-4, 3e-3, 2e-2]
    objective = table["val_ndcg@20"]
    assert objective.nunique() == 3  # the search had something to choose
    best_row = table.loc[objective.idxmax()]
    assert summary["best_values"]["learning_rate"] == best_row["learning_rate"]
    assert summary["best_valid_objective"] == pytest.approx(objective.max())
    assert set(table["worker"]) == {"tuner0"} and (table["seconds"] > 0).all()
    # The saved best model is the best trial's best epoch: ranking the
    # validation users again gives the objective the tuner recorded.
    model = keras.saving.load_model(out / "best" / "best.keras")
    again = evaluate(model, tiny_split.valid, ks=(20,), batch_size=64)
    assert again["ndcg@20"] == pytest.approx(objective.max(), abs=1e-6)
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["valid"]["final"]["ndcg@20"] == pytest.approx(objective.max(), abs=1e-6)
    assert set(metrics["test"]["final"]) >= {"ndcg@10", "recall@20"}
    best_config = json.loads((out / "best" / "config.json").read_text())
    assert best_config["learning_rate"] == best_row["learning_rate"]
    # best/ is a run directory like any other: it speaks the dataset's ids.
    from rearec_keras.data import Vocabulary
    from rearec_keras.experiments import load_recommender

    assert load_recommender(out / "best").vocabulary == Vocabulary.from_split(tiny_split)
    assert (out / "sensitivity.png").stat().st_size > 0
    assert "learning_rate=" in (out / "summary.md").read_text()


def test_resume_continues_without_repeating_trials(tmp_path, tiny_config, tiny_split, monkeypatch):
    out = tmp_path / "random"
    calls = _count_fits(monkeypatch)
    space = {"learning_rate": [1e-4, 1e-3, 3e-3, 1e-2, 2e-2], "reasoning_steps": [1]}
    run_study(tiny_config, out, algorithm="random", search_space=space, max_trials=2,
              baseline=False, verbose=0, split=tiny_split)
    assert len(calls) == 2
    # Same study again: nothing left to do.
    run_study(tiny_config, out, algorithm="random", search_space=space, max_trials=2,
              baseline=False, verbose=0, split=tiny_split)
    assert len(calls) == 2
    # A larger budget continues the study: one new trial, not three.
    run_study(tiny_config, out, algorithm="random", search_space=space, max_trials=3,
              baseline=False, verbose=0, split=tiny_split)
    assert len(calls) == 3
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 3 and table["learning_rate"].nunique() == 3
    # Other settings in the same directory are refused, naming them.
    with pytest.raises(RunError, match="differs in .*hidden_dim"):
        run_study(tiny_config.replace(hidden_dim=32), out, algorithm="random",
                  search_space=space, max_trials=3, baseline=False, verbose=0, split=tiny_split)
    with pytest.raises(RunError, match="differs in algorithm"):
        run_study(tiny_config, out, algorithm="grid", search_space=space,
                  baseline=False, verbose=0, split=tiny_split)
    # --overwrite starts afresh: two new trials, the old three are gone.
    run_study(tiny_config, out, algorithm="random", search_space=space, max_trials=2,
              baseline=False, verbose=0, split=tiny_split, overwrite=True)
    assert len(calls) == 5 and len(pd.read_csv(out / "trials.csv")) == 2
    # ... but never in a distributed study, whose processes share the directory.
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(RunError, match="overwrite cannot be used in a distributed study"):
        run_study(tiny_config, out, search_space=space, overwrite=True, split=tiny_split)
    assert (out / "trials.csv").exists()


def test_a_killed_trial_runs_again_on_resume(tmp_path, tiny_config, tiny_split, monkeypatch):
    out = tmp_path / "killed"
    calls = _count_fits(monkeypatch)
    original = ReaRecHyperModel.fit  # the counting wrapper

    def killed_on_second(self, hp, model, *args, **kwargs):
        if len(calls) == 1:
            calls.append("killed")
            raise KeyboardInterrupt
        return original(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(ReaRecHyperModel, "fit", killed_on_second)
    space = {"learning_rate": [1e-3, 1e-2], "reasoning_steps": [1]}
    with pytest.raises(KeyboardInterrupt):
        run_study(tiny_config, out, algorithm="grid", search_space=space,
                  baseline=False, verbose=0, split=tiny_split)
    assert not (out / "trials.csv").exists()
    monkeypatch.setattr(ReaRecHyperModel, "fit", original)
    run_study(tiny_config, out, algorithm="grid", search_space=space,
              baseline=False, verbose=0, split=tiny_split)
    # One trial before the kill, the killed one again, nothing else.
    assert [c for c in calls if c != "killed"] and len(calls) == 3
    table = pd.read_csv(out / "trials.csv")
    assert sorted(table["learning_rate"]) == [1e-3, 1e-2]
    assert set(table["status"]) == {"COMPLETED"}


def test_defaults_baseline_equals_the_trial_with_the_default_values(tmp_path, tiny_config, tiny_split):
    # The only candidate is the config's own value: the trial and the
    # baseline run train the same model from the same seed.
    out = tmp_path / "same"
    space = {"kl_weight": [tiny_config.kl_weight], "reasoning_steps": [2]}
    summary = run_study(tiny_config, out, algorithm="grid", search_space=space,
                        baseline="train", verbose=0, split=tiny_split)
    assert summary["defaults_source"] == "defaults/"
    assert summary["defaults"]["valid"]["ndcg@20"] == pytest.approx(
        summary["best"]["valid"]["ndcg@20"], abs=1e-6)
    assert summary["gain_percent"]["test"]["ndcg@20"] == pytest.approx(0.0, abs=1e-3)
    assert (out / "defaults" / "metrics.json").exists()
    assert "| gain | test |" in (out / "summary.md").read_text()
    # By default that trial stands in for the baseline: nothing is trained.
    reused = run_study(tiny_config, tmp_path / "reuse", algorithm="grid", search_space=space,
                       verbose=0, split=tiny_split)
    assert reused["defaults_source"].startswith("trial ")
    assert not (tmp_path / "reuse" / "defaults").exists()
    assert reused["defaults"] == summary["defaults"]


def test_gain_over_trained_defaults(tmp_path, tiny_config, tiny_split):
    # The default learning rate (1e-3) is not a candidate: the baseline is
    # trained, and the gain is the relative difference of the two.
    summary = run_study(tiny_config, tmp_path / "g", algorithm="grid",
                        search_space={"learning_rate": [2e-2], "reasoning_steps": [2]},
                        verbose=0, split=tiny_split)
    assert summary["defaults_source"] == "defaults/"
    best, defaults = summary["best"]["test"], summary["defaults"]["test"]
    assert best["ndcg@20"] != defaults["ndcg@20"]
    assert summary["gain_percent"]["test"]["ndcg@20"] == pytest.approx(
        100 * (best["ndcg@20"] - defaults["ndcg@20"]) / defaults["ndcg@20"], abs=0.01)


@pytest.mark.parametrize("algorithm", ["random", "bayesian", "hyperband"])
def test_each_algorithm_runs(tmp_path, tiny_config, tiny_split, algorithm):
    config = tiny_config.replace(epochs=2)
    space = {"learning_rate": {"min": 1e-4, "max": 2e-2, "sampling": "log"}, "reasoning_steps": [1, 2]}
    summary = run_study(config, tmp_path / algorithm, algorithm=algorithm, search_space=space,
                        max_trials=2, hyperband_factor=2, baseline=False, verbose=0,
                        split=tiny_split)
    table = pd.read_csv(tmp_path / algorithm / "trials.csv")
    assert (table["status"] == "COMPLETED").all() and len(table) >= 2
    assert 1e-4 <= summary["best_values"]["learning_rate"] <= 2e-2
    assert summary["best_valid_objective"] == pytest.approx(table["val_ndcg@20"].max())
    if algorithm == "hyperband":
        assert set(table["epochs_budget"]) <= {1, 2}


def test_grid_refuses_continuous_ranges_and_bad_settings(tmp_path, tiny_config):
    hypermodel = ReaSASRecHyperModel(30, config=tiny_config,
                                     search_space={"learning_rate": {"min": 1e-4, "max": 1e-2}})
    with pytest.raises(SearchSpaceError, match="learning_rate is a continuous range"):
        make_tuner(hypermodel, "grid", directory=tmp_path)
    with pytest.raises(ConfigError, match="`algorithm` must be one of"):
        make_tuner(hypermodel, "annealing", directory=tmp_path)
    with pytest.raises(ConfigError, match="`max_trials` must be an int >= 1"):
        make_tuner(hypermodel, "random", directory=tmp_path, max_trials=0)
    with pytest.raises(ConfigError, match="`hyperband_factor` must be an int >= 2"):
        make_tuner(hypermodel, "hyperband", directory=tmp_path, hyperband_factor=1)
    with pytest.raises(SearchSpaceError, match="hyperband needs epochs >= 2"):
        make_tuner(hypermodel, "hyperband", directory=tmp_path)  # tiny_config: 1 epoch
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("algorithm, oracle", [
    ("grid", "GridSearchOracle"), ("random", "RandomSearchOracle"),
    ("bayesian", "BayesianOptimizationOracle"), ("hyperband", "HyperbandOracle")])
def test_each_algorithm_gets_its_oracle(tmp_path, tiny_config, algorithm, oracle):
    hypermodel = ReaSASRecHyperModel(30, config=tiny_config.replace(epochs=4),
                                     search_space={"kl_weight": [0.01, 0.1]})
    tuner = make_tuner(hypermodel, algorithm, directory=tmp_path, max_trials=2)
    assert type(tuner.oracle).__name__ == oracle
    assert tuner.oracle.objective.name == "val_ndcg@20"
    if algorithm == "hyperband":
        assert tuner.oracle.max_epochs == 4


def test_hypermodel_families_and_errors(tiny_config):
    hypermodel = ReaBERT4RecHyperModel(30, config=tiny_config)
    assert hypermodel.config.backbone == "bert4rec"
    assert hypermodel.objective.name == "val_ndcg@20" and hypermodel.objective.direction == "max"
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert type(model).__name__ == "ReaBERT4Rec" and model.built
    assert model.kl_weight == 0.05 and model.reasoning_steps == 2  # the config's values start
    with pytest.raises(SearchSpaceError, match="trains backbone='sasrec'"):
        ReaSASRecHyperModel(30, config=tiny_config, backbone="bert4rec")
    with pytest.raises(ConfigError, match="`num_items` must be an int >= 1"):
        ReaSASRecHyperModel(0, config=tiny_config)
    with pytest.raises(ValueError, match="needs validation_data"):
        hypermodel.fit(keras_tuner.HyperParameters(), model, np.ones((2, 10), "int32"))


def test_plain_keras_tuner_with_get_best_models(tmp_path, tiny_config, tiny_split):
    """The user path without `run_study`: a KerasTuner tuner made by hand,
    `search` on the split parts, `get_best_models` (explicit `build`)."""
    hypermodel = ReaSASRecHyperModel(
        tiny_split.num_items, config=tiny_config,
        search_space={"kl_weight": [0.01, 0.1], "reasoning_steps": [1]})
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=2,
                                     directory=str(tmp_path), project_name="plain", seed=0)
    tuner.search(tiny_split.train, validation_data=tiny_split.valid, verbose=0)
    best = tuner.get_best_models(1)[0]
    assert type(best).__name__ == "ReaSASRec" and best.reasoning_steps == 1
    trial = tuner.oracle.get_best_trials(1)[0]
    again = evaluate(best, tiny_split.valid, ks=(20,), batch_size=64)
    assert again["ndcg@20"] == pytest.approx(trial.score, abs=1e-6)


def test_sensitivity_plot(tmp_path):
    table = pd.DataFrame({
        "base_temperature": [0.05, 0.5, 5.0, 0.5], "temperature_decay": [1.0, 1.0, 1.0, 5.0],
        "diversity": ["kl"] * 4, "val_ndcg@20": [0.1, 0.3, 0.2, np.nan]})
    plotted = study_module.plot_sensitivity(
        table, ["base_temperature", "temperature_decay", "diversity"], "val_ndcg@20",
        tmp_path / "s.png")
    # temperature_decay has one finished value and diversity one: one panel.
    assert plotted == ["base_temperature"] and (tmp_path / "s.png").stat().st_size > 0
    assert study_module.plot_sensitivity(table, ["diversity"], "val_ndcg@20",
                                         tmp_path / "none.png") == []
    assert not (tmp_path / "none.png").exists()


def test_summary_gain_is_relative_percent():
    assert study_module._gain(0.11, 0.10) == pytest.approx(10.0)
    assert study_module._gain(0.09, 0.10) == pytest.approx(-10.0)
    assert np.isnan(study_module._gain(0.1, 0.0))


EPOCHS_SEEN = []


class _RecordEpochs(keras.callbacks.Callback):
    # KerasTuner deep-copies search callbacks per trial: record in a global.
    def on_epoch_end(self, epoch, logs=None):
        EPOCHS_SEEN.append((epoch, logs["val_ndcg@20"]))


def test_early_stopping_inside_a_trial(tmp_path, tiny_config, tiny_split):
    # A learning rate too small to move float32 weights: the objective
    # never improves after epoch 1, so patience 1 ends the trial after
    # epoch 2 of the 5 allowed.
    config = tiny_config.replace(epochs=5, patience=1)
    hypermodel = ReaSASRecHyperModel(tiny_split.num_items, config=config,
                                     search_space={"learning_rate": [1e-12], "reasoning_steps": [1]})
    tuner = make_tuner(hypermodel, "grid", directory=tmp_path)
    EPOCHS_SEEN.clear()
    tuner.search(tiny_split.train, validation_data=tiny_split.valid, verbose=0,
                 callbacks=[_RecordEpochs()])
    assert [epoch for epoch, _ in EPOCHS_SEEN] == [0, 1]
    assert EPOCHS_SEEN[0][1] == EPOCHS_SEEN[1][1]
    (trial,) = tuner.oracle.trials.values()
    assert trial.score == pytest.approx(EPOCHS_SEEN[0][1])
