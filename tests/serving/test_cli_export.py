"""`rearec-keras export`: a trained run directory or a .keras file to a
serving SavedModel; bad input is one line on stderr and exit code 2."""

import json

import numpy as np
import pytest

from rearec_keras.cli import main

# The tiny run settings of tests/experiments (a 30-item synthetic catalog).
TINY = [
    "--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
    "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, interactions):
    run = tmp_path_factory.mktemp("runs") / "erl"
    assert main(["train", *TINY, "--data-path", interactions, "--epochs", "1", "--learning", "erl",
                 "--run-dir", str(run), "--quiet"]) == 0
    return run


def _histories(model, rows=6, seed=0):
    rng = np.random.default_rng(seed)
    out = np.zeros((rows, model.max_length), np.int32)
    for r in range(rows):
        n = r % model.max_length + 1
        out[r, -n:] = rng.integers(1, model.num_items + 1, size=n)
    return out


def test_export_a_run_directory(run_dir, tmp_path, capsys):
    from rearec_keras.experiments import load_run
    from rearec_keras.serving import load_serving

    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"exported to {out}" in printed
    assert ("endpoints: top_k, top_k_unseen, encode, item_vectors, top_k_raw, "
            "top_k_unseen_raw" in printed)
    _, model = load_run(run_dir)
    info = json.loads((out / "serving.json").read_text())
    assert (info["model"], info["learning"]) == ("ReaSASRec", "erl")
    assert (info["num_items"], info["max_length"]) == (model.num_items, 10)
    assert (info["reasoning_steps"], info["max_k"]) == (2, model.num_items)
    served = load_serving(out)
    histories = _histories(model)
    for exclude in (False, True):
        ids, scores = served.top_k(histories, k=10, exclude_history=exclude, ids="internal")
        expected_ids, expected_scores = model.recommend(histories, k=10, exclude_history=exclude)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    # The run's vocabulary travels with the export: the dataset's own ids in and out.
    from rearec_keras.experiments import load_recommender

    recommender = load_recommender(run_dir)
    assert served.vocabulary == recommender.vocabulary
    raw = [["i1", "i2"], ["i5"]]
    ids, scores = served.top_k(raw, k=4, exclude_history=True)
    expected_ids, expected_scores = recommender.recommend(raw, k=4, exclude_history=True)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    assert all(str(i).startswith("i") for i in ids.ravel())


def test_export_a_keras_file_with_options(run_dir, tmp_path, capsys):
    from rearec_keras.experiments import load_run
    from rearec_keras.serving import load_serving

    out = tmp_path / "export"
    assert main(["export", str(run_dir / "best.keras"), "--out", str(out), "--max-k", "5",
                 "--steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert "k in 1..5" in printed and "no vocabulary" in printed
    _, model = load_run(run_dir)
    served = load_serving(out)
    assert (served.info["max_k"], served.info["reasoning_steps"]) == (5, 1)
    histories = _histories(model, seed=1)
    ids, _ = served.top_k(histories, k=5)
    np.testing.assert_array_equal(ids, model.recommend(histories, k=5, steps=1)[0])
    # an existing export is replaced only with --overwrite
    assert main(["export", str(run_dir), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "serving.json").read_text())["max_k"] == model.num_items


def test_export_with_per_user_halting(run_dir, tmp_path, capsys):
    from rearec_keras.experiments import load_run
    from rearec_keras.serving import load_serving

    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--out", str(out), "--halting", "kl",
                 "--halting-threshold", "threshold=0.01"]) == 0
    printed = capsys.readouterr().out
    assert "per-user halting: kl {'threshold': 0.01}" in printed
    assert "halting_steps" in printed
    _, model = load_run(run_dir)
    served = load_serving(out)
    histories = _histories(model, seed=2)
    rule = {"threshold": 0.01}
    np.testing.assert_array_equal(served.halting_steps(histories, ids="internal"),
                                  model.score_with_halting(histories, "kl", rule)[1])
    ids, _ = served.top_k(histories, k=5, ids="internal")
    np.testing.assert_array_equal(
        ids, model.recommend(histories, k=5, halting="kl", thresholds=rule)[0])


@pytest.mark.parametrize("extra, message", [
    (["--max-k", "0"], "max_k"),
    (["--max-k", "31"], "max_k"),
    (["--steps", "3"], "steps"),
    (["--halting", "learned"], "halting head"),
    (["--halting", "kl", "--halting-threshold", "confidence=0.3"], "unknown"),
])
def test_export_option_errors(run_dir, tmp_path, capsys, extra, message):
    assert main(["export", str(run_dir), "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rearec-keras export:") and message in err
    assert not (tmp_path / "x").exists()


def test_a_broken_vocabulary_is_one_line(run_dir, tmp_path, capsys):
    import shutil

    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken, ignore=shutil.ignore_patterns("backup", "tensorboard"))
    (broken / "vocabulary.json").write_text("{")
    for command in (["export", str(broken), "--out", str(tmp_path / "x")],
                    ["recommend", str(broken), "--history", "i1"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "vocabulary.json is unreadable" in err


def test_export_input_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run directory or model file" in err
    assert main(["export", str(tmp_path)]) == 2  # --out is required
    assert "--out" in capsys.readouterr().err
