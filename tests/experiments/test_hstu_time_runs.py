"""`--time-buckets`: HSTU's time bias as a run setting, trained, evaluated
and served with the data's timestamps."""

import json

import keras
import pytest

from rearec_keras import backbones
from rearec_keras.cli import build_parser
from rearec_keras.cli import main
from rearec_keras.experiments import runner
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import setting_doc


def test_time_buckets_is_a_setting_declared_with_the_backbone():
    declared = backbones.declared_setting("time_buckets")
    assert RunConfig().time_buckets == declared.default == 0
    assert backbones.get_backbone("hstu").setting_names == ("time_buckets",)
    assert setting_doc("time_buckets").startswith("[hstu] HSTU's relative time bias")
    with pytest.raises(ConfigError, match="`time_buckets` must be an int >= 0"):
        RunConfig(backbone="hstu", time_buckets=-1)
    args = build_parser().parse_args(["train", "--backbone", "hstu", "--time-buckets", "32"])
    assert args.time_buckets == 32
    # Backbones that do not read it ignore it (a run directory may differ there).
    assert "time_buckets" in RunConfig(backbone="sasrec").ignored_settings()
    assert "time_buckets" not in RunConfig(backbone="hstu").ignored_settings()
    assert "num_experts" in RunConfig(backbone="hstu").ignored_settings()


def test_train_evaluate_recommend_with_the_time_bias(tiny_config, tiny_split, tmp_path, capsys):
    config = tiny_config.replace(backbone="hstu", time_buckets=8)
    run_dir = tmp_path / "hstu"
    metrics = runner.train_run(config, run_dir, verbose=0, split=tiny_split)
    _, model = runner.load_run(run_dir)
    assert model.uses_timestamps and model.time_buckets == 8
    again = runner.step_metrics(model, tiny_split.test, config.ks, config.eval_batch_size)
    assert again["final"] == pytest.approx(metrics["test"]["final"], abs=1e-6)
    data_json = json.loads((run_dir / "data.json").read_text())
    assert data_json["split"]["timestamps_fingerprint"] == tiny_split.timestamps_fingerprint()
    # The command line: a user's history comes with its times; a typed one needs them.
    assert main(["recommend", str(run_dir), "--user", "u3", "-k", "3"]) == 0
    assert "| 3 |" in capsys.readouterr().out
    items = ",".join(str(i) for i in tiny_split.item_vocab[1:4])
    assert main(["recommend", str(run_dir), "--history", items]) == 2
    assert "pass --timestamps T1,T2" in capsys.readouterr().err
    assert main(["recommend", str(run_dir), "--history", items, "--timestamps", "1,2"]) == 2
    assert "--timestamps has 2 value(s) but --history has 3" in capsys.readouterr().err
    assert main(["recommend", str(run_dir), "--history", items, "--timestamps",
                 "100,200,300", "-k", "2"]) == 0
    assert "| 2 |" in capsys.readouterr().out
    assert main(["recommend", str(run_dir), "--user", "u3", "--halting", "kl"]) == 2
    assert "per-user halting does not feed timestamps" in capsys.readouterr().err
    if keras.backend.backend() == "tensorflow":
        assert main(["export", str(run_dir), "--out", str(tmp_path / "export")]) == 0
        assert "time bias (time_buckets=8)" in capsys.readouterr().out


def test_a_model_without_time_bias_refuses_typed_timestamps(tiny_config, tiny_split, tmp_path,
                                                            capsys):
    config = tiny_config.replace(backbone="hstu", learning="base")
    run_dir = tmp_path / "plain"
    runner.train_run(config, run_dir, verbose=0, split=tiny_split)
    items = ",".join(str(i) for i in tiny_split.item_vocab[1:3])
    assert main(["recommend", str(run_dir), "--history", items, "--timestamps", "1,2"]) == 2
    assert "this model reads no timestamps" in capsys.readouterr().err
