"""Nothing silently wrong: one test (at least) per class of fault.

Duplicates, changed data, foreign catalogs, ids out of range, empty configs,
concurrent and killed runs, corrupt or unreadable files, settings that
cannot work, empty and ragged batches, odd `compare`/`recommend` input. The
CLI cases run `main()` in process (one clear line on stderr, exit code 2).
"""

import csv
import json
import os
import shutil

import pandas as pd
import pytest

from rearec_keras.cli import main

TINY = [
    "--dataset", "table", "--max-length", "10", "--hidden-dim", "16",
    "--intermediate-dim", "32", "--batch-size", "64", "--eval-batch-size", "64",
]


def _fails(capsys, argv, *expected):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (argv, err)
    for text in expected:
        assert text in lines[0], (argv, lines[0])
    assert "Traceback" not in err
    return lines[0]


def _log_epochs(run_dir):
    with open(run_dir / "log.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


@pytest.fixture
def data_file(tmp_path, interactions_writer):
    return interactions_writer(tmp_path / "inter.csv")


def _train_args(data_path, run_dir, *extra, epochs=2):
    return ["train", *TINY, "--data-path", str(data_path), "--epochs", str(epochs),
            "--patience", "10", "--learning", "erl", "--run-dir", str(run_dir), "--quiet", *extra]


# ----------------------------------------------------------------------
# Silently wrong results


def test_exact_duplicates_are_dropped_and_counted_in_every_split(tmp_path, interactions_writer):
    from rearec_keras import data
    from rearec_keras.datasets import load_interactions

    frame = pd.read_csv(interactions_writer(tmp_path / "a.csv"))
    duplicated = pd.concat([frame, frame.iloc[[3, 3, 10]]]).reset_index(drop=True)
    dataset = load_interactions(duplicated)
    splits = {
        "leave_one_out": lambda **kw: data.leave_one_out(dataset, max_length=10, **kw),
        "temporal": lambda **kw: data.temporal_split(dataset, span_fractions=(0.6, 0.8),
                                                     max_length=10, cold_items="keep", **kw),
    }
    for name, make in splits.items():
        clean = make()
        step = next(s for s in clean.report if s["step"] == "drop_duplicates")
        assert step["interactions_before"] - step["interactions_after"] == 3, name
        assert clean.fingerprint() == {
            "leave_one_out": lambda: data.leave_one_out(load_interactions(frame), max_length=10),
            "temporal": lambda: data.temporal_split(load_interactions(frame),
                                                    span_fractions=(0.6, 0.8), max_length=10,
                                                    cold_items="keep"),
        }[name]().fingerprint(), name  # the same examples as the clean data
        kept = make(duplicates="none")
        assert sum(len(p) for p in kept) == sum(len(p) for p in clean) + 3, name
    # A dataset the user already deduplicated (their own way) is left alone.
    first = data.drop_duplicates(dataset, "first")
    split = data.leave_one_out(first, max_length=10)
    assert [s["step"] for s in split.report].count("drop_duplicates") == 1
    with pytest.raises(ValueError, match="duplicates must be one of"):
        data.leave_one_out(dataset, duplicates="all")


def test_cli_drops_duplicates_by_default_and_reports_them(tmp_path, interactions_writer):
    frame = pd.read_csv(interactions_writer(tmp_path / "a.csv"))
    path = tmp_path / "dup.csv"
    pd.concat([frame, frame.iloc[[5]]]).to_csv(path, index=False)
    from rearec_keras.experiments.config import RunConfig
    from rearec_keras.experiments.prepare import prepare_data

    dataset, split = prepare_data(RunConfig(dataset="table", data_path=str(path), max_length=10))
    steps = [s for s in split.report if s["step"] == "drop_duplicates"]
    assert len(steps) == 1 and steps[0]["interactions_before"] - steps[0]["interactions_after"] == 1
    _, kept = prepare_data(RunConfig(dataset="table", data_path=str(path), max_length=10,
                                     duplicates="none"))
    assert len(kept.train) == len(split.train) + 1


def test_a_run_refuses_data_that_changed_since_training(tmp_path, data_file, capsys):
    run_dir = tmp_path / "run"
    assert main(_train_args(data_file, run_dir, epochs=1)) == 0
    stats = json.loads((run_dir / "data.json").read_text())
    assert len(stats["split"]["fingerprint"]) == 64
    assert main(["evaluate", str(run_dir)]) == 0
    capsys.readouterr()
    frame = pd.read_csv(data_file)
    # Same catalog (every item stays), one user's first interaction removed.
    first_row = frame.index[frame["user_id"] == "u0"][0]
    frame.drop(index=first_row).to_csv(data_file, index=False)
    for command in (["evaluate", str(run_dir)], ["analyze", str(run_dir)],
                    ["recommend", str(run_dir), "--user", "u1"]):
        _fails(capsys, command, "differs from the data run", "fingerprint")
    # Resuming (or re-training) the run on other data is refused too.
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    (run_dir / "metrics.json").unlink()
    _fails(capsys, _train_args(data_file, run_dir, epochs=1), "differs from the data run")


@pytest.mark.parametrize("name,text", [
    ("empty.yaml", ""), ("comments.yaml", "# nothing yet\n"), ("empty.json", "  \n"),
    ("object.json", "{}"), ("empty.toml", ""),
])
def test_an_empty_config_file_is_refused(tmp_path, capsys, name, text):
    from rearec_keras.experiments.config import ConfigError
    from rearec_keras.experiments.config import load_config

    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match="sets no settings"):
        load_config(path)
    _fails(capsys, ["train", "--config", str(path)], "sets no settings", name)
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------
# Runs and run directories


def test_a_second_training_in_the_same_directory_fails_at_once(tmp_path, data_file, capsys):
    from rearec_keras.utils.files import RunLock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunLock(run_dir):  # another live process holds it
        message = _fails(capsys, _train_args(data_file, run_dir, epochs=1), "is in use by process",
                         str(os.getpid()))
        assert "another --run-dir" in message
    assert not (run_dir / "config.json").exists()  # it did nothing
    # A lock file left by a killed process holds no lock: training runs.
    (run_dir / ".lock").write_text("process 999999 on gone\n")
    assert main(_train_args(data_file, run_dir, epochs=1)) == 0


def _interrupt_backup_at(monkeypatch, epoch):
    """Makes training die right after epoch `epoch` (1-based) is logged,
    before its checkpoint is written, like a kill."""
    from rearec_keras.training import RunBackup

    original = RunBackup.on_epoch_end

    def on_epoch_end(self, e, logs=None):
        if e + 1 == epoch:
            raise KeyboardInterrupt
        original(self, e, logs)

    monkeypatch.setattr(RunBackup, "on_epoch_end", on_epoch_end)


def test_a_kill_after_an_epoch_or_a_fallback_backup_leaves_one_log_row_per_epoch(
        tmp_path, data_file, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    args = _train_args(data_file, run_dir, epochs=4)
    with monkeypatch.context() as m:
        _interrupt_backup_at(m, 3)
        assert main(args) == 130  # interrupted
    assert _log_epochs(run_dir) == [0, 1, 2]  # epoch 3 logged, not checkpointed
    assert json.loads((run_dir / "state.json").read_text())["epochs_done"] == 3
    # The newest checkpoint is unreadable (a kill while it was written): the
    # run falls back to the one before and redoes two epochs.
    backups = sorted((run_dir / "backup").glob("epoch-*.weights.h5"))
    assert [p.name for p in backups] == ["epoch-00001.weights.h5", "epoch-00002.weights.h5"]
    backups[-1].write_bytes(os.urandom(500))
    (run_dir / "backup" / "partial-epoch-00003.weights.h5").write_bytes(b"\x89HDF")
    assert main(args) == 0
    assert _log_epochs(run_dir) == [0, 1, 2, 3]
    assert json.loads((run_dir / "state.json").read_text())["epochs_done"] == 4
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 4
    assert not (run_dir / "backup").exists()


def test_trim_epoch_log_keeps_one_row_per_epoch_and_drops_a_cut_line(tmp_path):
    from rearec_keras.training.callbacks import trim_epoch_log

    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\r\n0,1.0\r\n1,0.9\r\n2,0.8\r\n1,0.9\r\n3,0.")
    assert trim_epoch_log(path, 2) == 2
    assert path.read_text().splitlines() == ["epoch,loss", "0,1.0", "1,0.9"]
    path.write_text("epoch,loss\r\n0,1.0\r\n1,0.9\r\n1")  # a line cut short by a kill
    assert trim_epoch_log(path, 5) == 2
    assert trim_epoch_log(tmp_path / "missing.csv", 3) == 0


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, interactions_writer):
    root = tmp_path_factory.mktemp("finished")
    data = interactions_writer(root / "inter.csv")
    run_dir = root / "run"
    assert main(["train", *TINY, "--data-path", str(data), "--epochs", "1", "--learning", "erl",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    return run_dir


@pytest.mark.parametrize("name,content,command,expected", [
    ("config.json", b"{\"dataset\": ", "evaluate", "config.json is not valid JSON"),
    ("config.json", os.urandom(64), "train", "config.json is not"),
    ("config.json", b"[1, 2]", "evaluate", "holds a JSON list, expected a dict"),
    ("data.json", b"", "evaluate", "data.json is empty"),
    ("metrics.json", b"{", "train", "metrics.json is not valid JSON"),
    ("state.json", b"{\"best_value\": 0.", "train", "state.json is not valid JSON"),
    ("best.keras", os.urandom(300), "evaluate", "best.keras is not a Keras model file"),
    ("best.keras", None, "evaluate", "best.keras is not a Keras model file"),  # truncated
])
def test_a_corrupt_file_is_one_line_naming_it_and_what_to_do(
        finished_run, tmp_path, capsys, name, content, command, expected):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    path = run_dir / name
    if content is None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    if name == "state.json":
        (run_dir / "metrics.json").unlink()  # so that training reads the state
    argv = ([command, str(run_dir)] if command == "evaluate" else
            _train_args(config["data_path"], run_dir, epochs=1))
    message = _fails(capsys, argv, expected, str(path))
    assert "delete" in message  # what to do


def test_unreadable_checkpoints_say_to_delete_the_backup(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "metrics.json").unlink()
    state = json.loads((run_dir / "state.json").read_text())
    (run_dir / "state.json").write_text(json.dumps({**state, "finished": False}))
    (run_dir / "backup").mkdir()
    for epoch in (1, 2):
        (run_dir / "backup" / f"epoch-0000{epoch}.weights.h5").write_bytes(os.urandom(100))
    _fails(capsys, _train_args(config["data_path"], run_dir, epochs=1),
           "no training checkpoint in", "can be read", "epoch-00002.weights.h5",
           f"delete {run_dir / 'backup'}")


def test_file_system_problems_are_one_line(tmp_path, capsys, monkeypatch):
    _fails(capsys, ["train", *TINY, "--data-path", str(tmp_path), "--epochs", "1"],
           str(tmp_path))
    # Permissions cannot be taken away from root (CI runs as root): the
    # error a read-only directory raises is raised for it.
    from rearec_keras.experiments import runner

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "run"))

    monkeypatch.setattr(runner, "train_run", read_only)
    _fails(capsys, ["train", *TINY, "--data-path", str(tmp_path), "--epochs", "1"],
           f"{tmp_path / 'ro' / 'run'}: permission denied", "writable")


# ----------------------------------------------------------------------
# Bounds and warnings


@pytest.mark.parametrize("argv,expected", [
    (["--learning", "prl", "--reasoning-steps", "32", "--temperature-decay", "20"],
     "overflows float32"),
    (["--learning", "erl", "--reasoning-steps", "500"], "reasoning_steps=500 is beyond"),
    (["--negatives", "uniform", "--num-negatives", "100000"],
     "num_negatives=100,000 is larger than the catalog (30 items)"),
])
def test_settings_that_cannot_work_are_refused_up_front(tmp_path, data_file, capsys, argv,
                                                        expected):
    run_dir = tmp_path / "run"
    _fails(capsys, _train_args(data_file, run_dir, *argv), expected)
    assert not (run_dir / "log.csv").exists()


def test_compare_refuses_a_repeated_method(tmp_path, data_file, capsys):
    _fails(capsys, ["compare", *TINY, "--data-path", str(data_file), "--methods", "erl,prl,erl",
                    "--out", str(tmp_path / "cmp")], "names erl more than once")
    assert not (tmp_path / "cmp").exists()


def test_table_cells_are_one_line_escaped_and_truncated():
    from rearec_keras.cli import table_cell

    assert table_cell("Toy Story (1995)") == "Toy Story (1995)"
    assert table_cell("a\nb | c\t d") == "a b \\| c d"
    long = table_cell("x" * 500)
    assert len(long) == 80 and long.endswith("…")
    assert table_cell(None) == ""
