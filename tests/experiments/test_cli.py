import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from rearec_keras.cli import main


def _run_cli(*args, timeout=300, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "rearec_keras.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_train_writes_a_complete_run_directory(trained_run, tiny, capsys):
    for name in ("config.json", "data.json", "log.csv", "best.keras", "state.json",
                 "metrics.json", "results.md", "tensorboard"):
        assert (trained_run / name).exists(), name
    assert not (trained_run / "backup").exists()  # removed once training ended
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["model"] == "SASRec+PRL (K=2)"
    assert len(metrics["test"]["steps"]) == 3  # r_0, r_1, r_2
    # PRL's inference is the last state: the final scores equal step K's
    assert metrics["test"]["final"]["ndcg@20"] == pytest.approx(metrics["test"]["steps"][-1]["ndcg@20"])
    with open(trained_run / "log.csv") as f:
        log = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in log] == [0, 1, 2]
    best = max(range(3), key=lambda e: float(log[e]["val_ndcg@20"]))
    assert metrics["best_epoch"] == best + 1
    assert metrics["valid"]["final"]["ndcg@20"] == pytest.approx(float(log[best]["val_ndcg@20"]), abs=1e-6)
    stats = json.loads((trained_run / "data.json").read_text())
    assert stats["split"]["num_items"] == 30
    # A finished run is not trained again.
    assert main(["train", *tiny, "--data-path", json.loads(
        (trained_run / "config.json").read_text())["data_path"], "--epochs", "3",
        "--learning", "prl", "--run-dir", str(trained_run)]) == 0
    captured = capsys.readouterr()
    assert "already finished" in captured.out and "Epoch" not in captured.out


def test_same_seed_same_results(tmp_path, interactions, tiny):
    runs = []
    for name in ("a", "b"):
        assert main(["train", *tiny, "--data-path", interactions, "--epochs", "2",
                     "--learning", "erl", "--run-dir", str(tmp_path / name), "--quiet"]) == 0
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0]["test"] == runs[1]["test"]


def test_stored_step_metrics_match_the_evaluator(trained_run):
    """metrics.json (one encoder pass, every state scored) agrees with the
    evaluator running the model with `steps=s` and `model.predict`."""
    import rearec_keras
    from rearec_keras.experiments import load_run
    from rearec_keras.experiments import prepare_data

    config, model = load_run(trained_run)
    _, split = prepare_data(config)
    stored = json.loads((trained_run / "metrics.json").read_text())["test"]
    for s in range(model.reasoning_steps + 1):
        expected = rearec_keras.evaluate(
            None, split.test, ks=(10, 20),
            score_fn=lambda _, h, s=s: model.score(h, steps=s, pooling="last"),
        )
        assert stored["steps"][s] == pytest.approx(expected, abs=1e-6)
    assert stored["final"] == pytest.approx(rearec_keras.evaluate(model, split.test, ks=(10, 20)), abs=1e-6)


def test_evaluate_recommend_analyze(trained_run, interactions, capsys):
    assert main(["evaluate", str(trained_run), "--json", str(trained_run / "eval.json")]) == 0
    out = capsys.readouterr().out
    assert "| test |" in out and "r_2" in out
    evaluated = json.loads((trained_run / "eval.json").read_text())
    stored = json.loads((trained_run / "metrics.json").read_text())
    assert evaluated["test"]["final"] == pytest.approx(stored["test"]["final"])

    assert main(["recommend", str(trained_run), "--user", "u3", "-k", "5", "--exclude-seen"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "rank" not in line]
    assert len(lines) == 5
    recommended = {line.split("|")[2].strip() for line in lines}
    seen = set(pd.read_csv(interactions).query("user_id == 'u3'")["item_id"])
    assert len(recommended) == 5 and not recommended & seen
    assert main(["recommend", str(trained_run), "--history", "i1,i2,i3", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n| ") == 4  # header + 3 rows
    assert "history (3 items, newest last): i1, i2, i3" in out
    rows = [line.split("|")[2].strip() for line in out.splitlines()[3:]]
    from rearec_keras.experiments import load_recommender

    expected, _ = load_recommender(trained_run).recommend([["i1", "i2", "i3"]], k=3)
    assert rows == list(expected[0]) and all(r.startswith("i") for r in rows)
    # The same history in internal ids answers the same.
    vocab = load_recommender(trained_run).vocabulary
    internal = ",".join(str(i) for i in vocab.item_index(["i1", "i2", "i3"]))
    assert main(["recommend", str(trained_run), "--history", internal, "--internal-ids",
                 "-k", "3"]) == 0
    assert [line.split("|")[2].strip() for line in capsys.readouterr().out.splitlines()[3:]] == rows

    assert main(["analyze", str(trained_run)]) == 0
    out_dir = trained_run / "analysis"
    for name in ("step_performance", "subgroups", "state_similarity", "rank_trajectories", "oracle"):
        assert (out_dir / f"{name}.png").stat().st_size > 1000, name
        assert (out_dir / f"{name}.csv").exists(), name
    with open(out_dir / "step_performance.csv") as f:
        perf = list(csv.DictReader(f))
    for s, row in enumerate(perf[:-1]):  # same numbers as the evaluator
        assert float(row["ndcg@20"]) == pytest.approx(stored["test"]["steps"][s]["ndcg@20"], abs=1e-6)
    with open(out_dir / "halting_curve.csv") as f:  # fixed depth ... everyone at step 1
        curve = list(csv.DictReader(f))
    assert (out_dir / "halting_curve.png").stat().st_size > 1000
    steps = [float(r["mean_steps"]) for r in curve]
    assert steps[0] == 2.0 and steps[-1] == 1.0 and steps == sorted(steps, reverse=True)
    assert float(curve[0]["ndcg@20"]) == pytest.approx(stored["test"]["final"]["ndcg@20"],
                                                       abs=1e-6)
    assert float(curve[-1]["ndcg@20"]) == pytest.approx(stored["test"]["steps"][1]["ndcg@20"],
                                                        abs=1e-6)
    with open(out_dir / "oracle.csv") as f:
        oracle = {r["ranking"]: float(r["ndcg@20"]) for r in csv.DictReader(f)}
    assert oracle["oracle (best step per row)"] >= max(oracle[f"r_{s}"] for s in range(3)) - 1e-12
    with open(out_dir / "state_similarity.csv") as f:
        sim = list(csv.DictReader(f))
    assert all(float(r[r["state"]]) == pytest.approx(1.0) for r in sim)
    with open(out_dir / "subgroups.csv") as f:
        groups = list(csv.DictReader(f))
    users = [g for g in groups if g["by"] == "history length"]
    assert sum(int(g["rows"]) for g in users) == 60
    assert max(int(g["rows"]) for g in users) - min(int(g["rows"]) for g in users) <= 1


def test_rerunning_a_finished_run_from_before_vocabularies_writes_one(trained_run, interactions,
                                                                    tiny):
    path = trained_run / "vocabulary.json"
    saved = path.read_text()
    path.unlink()
    assert main(["train", *tiny, "--data-path", interactions, "--epochs", "3", "--learning", "prl",
                 "--run-dir", str(trained_run), "--quiet"]) == 0
    assert path.read_text() == saved


@pytest.mark.slow
def test_compare_table(tmp_path, interactions, tiny, capsys):
    assert main(["compare", *tiny, "--data-path", interactions, "--epochs", "1",
                 "--methods", "base,erl", "--seeds", "0,1", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| SASRec |" in out and "| SASRec+ERL (K=2) |" in out and "±" in out
    # From each run's own test metrics: mean, sample std (ddof 1), gain.
    def test_ndcg(run):
        return json.loads((tmp_path / run / "metrics.json").read_text())["test"]["final"]["ndcg@20"]

    base = np.mean([test_ndcg(f"base-seed{s}") for s in (0, 1)])
    erl = [test_ndcg(f"erl-seed{s}") for s in (0, 1)]
    assert f"{np.mean(erl):.4f} ± {np.std(erl, ddof=1):.4f}" in out
    assert f"({100 * (np.mean(erl) / base - 1):+.1f}%)" in out


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(trained_run, interactions, tmp_path):
    cases = [
        (["train", "--learning", "cot"], "invalid choice: 'cot'"),
        (["train", "--dataset", "netflix"], "invalid choice: 'netflix'"),
        (["train", "--backbone", "gru"], "invalid choice: 'gru'"),
        (["train", "--temperature-decay", "0.5"], "`temperature_decay` must be >= 1.0"),
        (["train", "--dataset", "table", "--data-path", str(tmp_path / "none.csv")], "none.csv"),
        (["evaluate", str(tmp_path / "missing")], "no run directory or model file"),
        (["evaluate", str(trained_run / "best.keras")], "scores 30 items but the data has 1,682"),
        (["recommend", str(trained_run), "--user", "nobody"], "unknown user id 'nobody'"),
        (["recommend", str(trained_run), "--history", "i1,zzz"], "unknown item id(s) 'zzz'"),
        (["recommend", str(trained_run), "--history", "0,1", "--internal-ids"],
         "not an internal item id in 1..30"),
        (["evaluate", str(trained_run), "--dataset", "ml-1m"],
         "--dataset only apply to a .keras model file"),
    ]
    for args, message in cases:
        result = _run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert message in lines[0], (args, lines[0])
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # failed runs leave no directory


@pytest.mark.slow
def test_killed_run_resumes(tmp_path, interactions, tiny):
    run_dir = tmp_path / "killed"
    args = ["train", *tiny, "--data-path", interactions, "--epochs", "40", "--patience", "40",
            "--learning", "erl", "--run-dir", str(run_dir), "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "rearec_keras.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run_dir / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["epochs_done"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = json.loads(state.read_text())["epochs_done"]
    assert 3 <= done_at_kill < 40
    assert not (run_dir / "metrics.json").exists()

    result = _run_cli(*args[:-1])  # same run, with progress output
    assert result.returncode == 0, result.stderr
    resumed_after = int(result.stdout.split("resuming")[1].split("after epoch")[1].split()[0])
    assert resumed_after >= done_at_kill  # nothing before the kill is redone ...
    with open(run_dir / "log.csv") as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    # ... and the log has every epoch exactly once (the epoch in flight, or
    # one logged but not yet checkpointed, is redone and logged once).
    assert epochs == list(range(40))
    assert json.loads(state.read_text())["epochs_done"] == 40
    assert (run_dir / "metrics.json").exists()


def test_console_script_is_installed():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("rearec-keras") == "rearec_keras.cli:main"


def test_train_with_sampled_softmax_and_mixed_precision(tmp_path, interactions, tiny):
    import keras

    from rearec_keras.experiments.runner import load_run
    from rearec_keras.experiments.runner import prepare_data

    run_dir = tmp_path / "sampled"
    assert main(["train", *tiny, "--data-path", interactions, "--epochs", "2", "--learning", "erl",
                 "--negatives", "popularity", "--num-negatives", "8",
                 "--precision", "mixed_bfloat16", "--run-dir", str(run_dir), "--quiet"]) == 0
    log = pd.read_csv(run_dir / "log.csv")
    assert len(log) == 2 and np.isfinite(log["loss"]).all()
    config, best = load_run(run_dir)
    assert (config.negatives, config.precision) == ("popularity", "mixed_bfloat16")
    assert best.negatives == "popularity" and best.num_negatives == 8
    assert best.reasoning.compute_dtype == "bfloat16"
    # The popularity the sampler learned from is the training targets' counts.
    counts = prepare_data(config)[1].train_item_counts()
    seen = counts > 0
    log_q = keras.ops.convert_to_numpy(best.negative_sampler.log_q)
    np.testing.assert_allclose(log_q[seen], np.log(counts[seen] / counts.sum()), rtol=1e-5)


def test_evaluate_with_per_user_halting(trained_run, capsys):
    from rearec_keras.evaluation import evaluate
    from rearec_keras.experiments.runner import load_run

    json_path = trained_run / "halting.json"
    # Unreachable thresholds: fixed depth exactly, nothing saved.
    assert main(["evaluate", str(trained_run), "--parts", "test", "--halting", "kl",
                 "--halting-threshold", "threshold=-1", "--json", str(json_path)]) == 0
    assert "per-user halting (kl)" in capsys.readouterr().out
    report = json.loads(json_path.read_text())["test"]["adaptive_halting"]
    assert report["step_saving"] == 0.0 and report["mean_steps"] == report["max_steps"] == 2
    assert report["halting"] == pytest.approx(report["fixed_depth"])
    # Any KL below infinity: every user stops after step 1, half the steps saved;
    # the metrics are those of a 1-step run.
    assert main(["evaluate", str(trained_run), "--parts", "test", "--halting", "kl",
                 "--halting-threshold", "threshold=inf", "--json", str(json_path)]) == 0
    report = json.loads(json_path.read_text())["test"]["adaptive_halting"]
    assert report["histogram"] == [60, 0] and report["step_saving"] == 0.5
    assert sum(g["users"] for g in report["by_history_length"].values()) == 60
    config, model = load_run(trained_run)
    from rearec_keras.experiments.prepare import prepare_data

    _, split = prepare_data(config, verbose=0)
    one_step = evaluate(model, split.test, ks=config.ks,
                        score_fn=lambda m, h: m.score(h, steps=1))
    for key, value in report["halting"].items():
        assert value == pytest.approx(one_step[key], abs=1e-6), key
    capsys.readouterr()
    rec = ["recommend", str(trained_run), "--user", "u3", "-k", "5"]
    assert main(rec) == 0
    full = capsys.readouterr().out
    assert main([*rec, "--halting", "kl", "--halting-threshold", "threshold=-1"]) == 0
    assert capsys.readouterr().out == full  # never halts: the same list
    assert main([*rec, "--halting", "learned"]) == 2  # PRL has no halting head
    assert "halting head" in capsys.readouterr().err
    assert main(["evaluate", str(trained_run), "--halting", "kl",
                 "--halting-threshold", "threshold"]) == 2
    assert "KEY=NUMBER" in capsys.readouterr().err
    assert main(["evaluate", str(trained_run), "--halting", "kl",
                 "--halting-threshold", "theta=1"]) == 2
    assert "unknown ['theta']" in capsys.readouterr().err


def test_train_dtrec_from_the_command_line(tmp_path, interactions, tiny):
    import keras

    run_dir = tmp_path / "dtrec"
    assert main(["train", *tiny, "--learning", "dtrec", "--min-prototypes", "4",
                 "--epochs", "2", "--data-path", interactions, "--run-dir", str(run_dir),
                 "--quiet"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "SASRec+DTRec (K=3)"  # DTRec's own default depth
    assert len(metrics["test"]["steps"]) == 4
    model = keras.saving.load_model(run_dir / "best.keras")
    sizes = model.method.sizes
    assert sizes[0] == 4 and sizes[-1] == metrics["num_items"]
    # Epoch 1 warmed up, epoch 2 clustered: the stored labels cover every level.
    for labels, k in zip(model.prototype_labels, sizes):
        values = keras.ops.convert_to_numpy(labels)[1:]
        assert values.min() >= 0 and values.max() == k - 1
