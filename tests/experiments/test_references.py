"""The stored base-model references the main job prints its gain against."""

import dataclasses

import pytest

from rearec_keras.experiments import references
from rearec_keras.experiments.config import RunConfig


def test_the_main_job_defaults_match_the_sasrec_reference():
    # `rearec-keras train` with no flags must print its gain over SASRec.
    config = RunConfig()
    assert config.learning != "base"
    assert references.reference_for(config) is references.SASREC_ML100K


@pytest.mark.parametrize("change", [
    {"batch_size": 256}, {"max_length": 20}, {"hidden_dim": 32}, {"dataset": "ml-1m"},
    {"dropout": 0.2}, {"learning_rate": 2e-3}, {"backbone": "bert4rec"},
])
def test_a_run_at_other_settings_gets_no_reference(change):
    assert references.reference_for(RunConfig(**change)) is None


def test_the_base_model_itself_gets_no_reference():
    assert references.reference_for(RunConfig(learning="base")) is None


def test_method_settings_and_seed_do_not_break_the_match():
    # The reference is a base model: the method's own settings and the seed
    # are not among its settings.
    config = RunConfig(learning="prl", temperature_decay=1.0, seed=7)
    assert references.reference_for(config) is references.SASREC_ML100K


def test_reference_table_gains_are_relative_to_the_mean():
    ref = dataclasses.replace(references.SASREC_ML100K,
                              test={"ndcg@10": (0.05, 0.001), "recall@10": (0.10, 0.002)})
    metrics = {"test": {"final": {"ndcg@10": 0.055, "recall@10": 0.095, "ndcg@20": 0.07}}}
    table = references.reference_table(metrics, ref, "ERL (seed 0)")
    assert "| test | N@10 | R@10 |" in table  # only the metrics both have
    assert "| ERL (seed 0) | 0.0550 | 0.0950 |" in table
    assert "| SASRec, mean ± std of 3 seeds | 0.0500 ± 0.0010 | 0.1000 ± 0.0020 |" in table
    assert "| gain | +10.0% | -5.0% |" in table
    assert "mean gain over the 2 metrics: +2.5%" in table


def test_cli_preset_flag_then_flags_override():
    from rearec_keras.cli import _config_from_args
    from rearec_keras.cli import build_parser

    parser = build_parser()
    config = _config_from_args(parser.parse_args(["train", "--preset", "paper", "--epochs", "4"]))
    assert (config.learning, config.batch_size, config.epochs) == ("prl", 2048, 4)
    assert references.reference_for(config) is None  # batch 2048: no stored SASRec to compare
    plain = _config_from_args(parser.parse_args(["train"]))
    assert plain == RunConfig()


def test_train_help_lists_every_preset_with_its_description_as_written():
    # argparse %-formats help strings: a "%" in a description must not crash --help.
    from rearec_keras.cli import build_parser
    from rearec_keras.experiments.presets import PRESETS

    parser = build_parser()
    help_text = " ".join(parser._subparsers._group_actions[0].choices["train"].format_help().split())
    for name, preset in PRESETS.items():
        assert f"{name}: {' '.join(preset.description.split())}" in help_text
