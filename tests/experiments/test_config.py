import json

import pytest

from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import load_config
from rearec_keras.experiments.config import parse_metric


def test_defaults_are_the_main_job():
    c = RunConfig()
    assert (c.dataset, c.split, c.backbone, c.learning, c.reasoning_steps) == (
        "ml-100k", "leave_one_out", "sasrec", "erl", 2)
    assert (c.monitor, c.patience, c.batch_size, c.learning_rate) == ("ndcg@20", 10, 1024, 1e-3)
    assert (c.base_temperature, c.temperature_decay, c.kl_weight, c.noise_std) == (0.07, 5.0, 0.05, 0.01)
    assert c.describe() == "SASRec+ERL (K=2)"


def test_paper_preset_is_the_released_prl(tmp_path):
    c = load_config(preset="paper")
    assert (c.learning, c.reasoning_steps, c.batch_size, c.epochs, c.patience) == (
        "prl", 2, 2048, 300, 10)
    assert (c.base_temperature, c.temperature_decay, c.noise_std, c.noise_warmup_epochs) == (
        0.07, 5.0, 0.01, 2)
    # A config file may name the preset; its settings and the flags override it.
    path = tmp_path / "run.yaml"
    path.write_text("preset: paper\nbatch_size: 512\n")
    c = load_config(path, epochs=3)
    assert (c.learning, c.batch_size, c.epochs) == ("prl", 512, 3)
    with pytest.raises(ConfigError, match="`preset` must be one of .*paper.*fast"):
        load_config(preset="fast")
    with pytest.raises(ConfigError, match="disagree"):
        path.write_text("preset: other\n")
        load_config(path, preset="paper")


def test_base_means_no_reasoning_steps():
    c = RunConfig(learning="base", backbone="bert4rec")
    assert c.reasoning_steps == 0 and c.describe() == "BERT4Rec"


def test_monitor_cutoff_is_always_reported():
    assert RunConfig(ks=[5], monitor="recall@50").ks == (5, 50)
    assert parse_metric("mrr@10") == ("mrr", 10)
    for bad in ("ndcg20", "auc@10", "ndcg@0", "ndcg@x"):
        with pytest.raises(ConfigError, match="monitor"):
            parse_metric(bad)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"learning": "cot"}, "`learning` must be one of"),
        ({"kl_weight": -0.1}, "`kl_weight` must be >= 0.0"),
        ({"base_temperature": 0.0}, "`base_temperature` must be > 0.0"),
        ({"temperature_decay": 0.5}, "`temperature_decay` must be >= 1.0"),
        ({"dropout": 1.0}, "`dropout` must be < 1.0"),
        ({"reasoning_steps": -1}, "`reasoning_steps` must be an int >= 0"),
        ({"epochs": 2.5}, "`epochs` must be an int"),
        ({"hidden_dim": 30, "num_heads": 4}, "divisible by num_heads"),
        ({"dataset": "yelp"}, "needs data_path"),
        ({"split": "predefined"}, "predefined"),
        ({"temporal_fractions": (0.9, 0.8)}, "must increase"),
        ({"noise_std": float("nan")}, "`noise_std` must be a finite number"),
    ],
)
def test_bad_values_name_the_setting(changes, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**changes)


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) klweight"):
        RunConfig.from_dict({"klweight": 0.1})


@pytest.mark.parametrize("fmt", ["json", "yaml", "toml"])
def test_config_files_and_overrides(tmp_path, fmt):
    path = tmp_path / f"run.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps({"learning": "erl", "kl-weight": 0.01, "ks": [5, 20]}))
    elif fmt == "yaml":
        path.write_text("learning: erl\nkl_weight: 0.01\nks: [5, 20]\n")
    else:
        path.write_text('learning = "erl"\nkl_weight = 0.01\nks = [5, 20]\n')
    c = load_config(path, seed=3)
    assert (c.learning, c.kl_weight, c.ks, c.seed) == ("erl", 0.01, (5, 20), 3)
    # explicit overrides beat the file
    assert load_config(path, kl_weight=0.1).kl_weight == 0.1


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
    other = tmp_path / "run.ini"
    other.write_text("x")
    with pytest.raises(ConfigError, match="unknown format"):
        load_config(other)
    wrong = tmp_path / "bad.yaml"
    wrong.write_text("epochs: 0\n")
    with pytest.raises(ConfigError, match="bad.yaml: `epochs` must be an int >= 1"):
        load_config(wrong)


def test_flag_types_come_from_the_annotations():
    from rearec_keras.experiments.config import scalar_type

    assert scalar_type("epochs") is int and scalar_type("k_core") is int
    assert scalar_type("kl_weight") is float and scalar_type("rating_threshold") is float
    assert scalar_type("data_path") is str and scalar_type("ks") is None


def test_save_round_trip(tmp_path):
    c = RunConfig(learning="erl", kl_weight=0.01, temporal_fractions=(0.7, 0.85))
    c.save(tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == c


def test_for_method_takes_the_new_methods_defaults_unless_given():
    # compare / the benchmark scripts switch methods on one config: a model
    # setting the first method only defaulted must follow the new method.
    config = RunConfig(max_length=20)
    lares = config.for_method("lares", seed=3)
    assert (lares.learning, lares.reasoning_steps, lares.base_temperature) == ("lares", 4, 1.0)
    assert (lares.max_length, lares.seed) == (20, 3)
    assert config.for_method("dtrec").reasoning_steps == 3
    assert config.for_method("base").reasoning_steps == 0
    # Given settings keep their values...
    given = load_config(reasoning_steps=2, base_temperature=0.5)
    assert (given.for_method("lares").reasoning_steps,
            given.for_method("lares").base_temperature) == (2, 0.5)
    # ... and a method's defaults do not leak into the next method.
    back = config.for_method("lares").for_method("erl")
    assert (back.reasoning_steps, back.base_temperature) == (2, 0.07)
    assert back.to_dict() == RunConfig(max_length=20).to_dict()
    # replace keeps every value as it is.
    assert config.replace(learning="lares").reasoning_steps == 2


def test_prl_tuned_preset_is_prl_at_flat_temperatures_on_the_main_job_defaults():
    c = load_config(preset="prl-tuned")
    assert (c.learning, c.reasoning_steps, c.base_temperature, c.temperature_decay) == (
        "prl", 2, 1.0, 1.0)
    assert (c.noise_std, c.noise_warmup_epochs) == (0.01, 2)
    main = RunConfig()
    assert (c.batch_size, c.learning_rate, c.patience, c.epochs) == (
        main.batch_size, main.learning_rate, main.patience, main.epochs)
    assert load_config(preset="prl-tuned", base_temperature=0.5).base_temperature == 0.5
