"""Progress output: a live Keras bar with an ETA in a terminal, one summary
line in a log (CI, files, pytest's capture), nothing at verbose=0; and the
places that use it (evaluation, data preparation, DTRec's K-means, fit)."""

import contextlib
import io
import re

import numpy as np
import pytest

from rearec_keras.utils.progress import Progress
from rearec_keras.utils.progress import fit_verbosity
from rearec_keras.utils.progress import live_bar

# A non-final frame of the Keras bar: "\r<bold>2/5</bold> <bar> <bold>ETA</bold> 3ms/item".
ETA_FRAME = re.compile(r"\x1b\[1m(\d+s|\d+:\d\d(:\d\d)?)\x1b\[0m \d+(us|ms|s)/item")
SUMMARY = re.compile(r"^working: 5 items in [\d.:]+s? \(\d+(\.\d)?(us|ms|s)/item\)\n$")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class FakeLog(io.StringIO):
    def isatty(self):
        return False


# pytest puts its own capture back on sys.stdout after fixtures run, so the
# stream is swapped inside each test.


def _run(stream, verbose, steps=5, **kwargs):
    with contextlib.redirect_stdout(stream):
        with Progress(steps, verbose, "working", unit="item", interval=0, **kwargs) as progress:
            for _ in range(steps):
                progress.add(1)
    return stream.getvalue()


# ------------------------------------------------------------ the utility --


def test_a_terminal_gets_a_live_bar_that_redraws_with_an_eta():
    out = _run(FakeTerminal(), 1)
    assert out.startswith("working\n")  # the label, then the bar below it
    frames = out[len("working\n"):].split("\r")[1:]
    assert len(frames) >= 5  # redrawn in place, once per update plus the final frame
    assert any("1/5" in f and ETA_FRAME.search(f) for f in frames[:-1])
    assert "5/5" in frames[-1] and frames[-1].endswith("\n")
    assert out.count("\n") == 2  # the label line and the finished bar


def test_a_log_gets_one_summary_line_and_no_redraws():
    out = _run(FakeLog(), 1)
    assert SUMMARY.match(out), out
    assert "\r" not in out and "\x1b" not in out


def test_verbose_2_is_the_summary_line_even_in_a_terminal():
    assert SUMMARY.match(_run(FakeTerminal(), 2))


@pytest.mark.parametrize("verbose", [0, False, None])
def test_verbose_0_prints_nothing(verbose):
    assert _run(FakeTerminal(), verbose) == ""
    assert _run(FakeLog(), verbose, start_line=True) == ""


def test_start_line_and_own_summary_in_a_log():
    log = FakeLog()
    with contextlib.redirect_stdout(log):
        with Progress(3, 1, "preparing", start_line=True) as progress:
            progress.add(3)
            progress.close("read, preprocessed and split")
    lines = log.getvalue().splitlines()
    assert lines[0] == "preparing ..."
    assert re.fullmatch(r"preparing: read, preprocessed and split in [\d.]+s", lines[1])
    assert len(lines) == 2


def test_a_failure_ends_the_bar_line_and_writes_no_summary():
    terminal, log = FakeTerminal(), FakeLog()
    for stream in (terminal, log):
        with contextlib.redirect_stdout(stream), pytest.raises(RuntimeError):
            with Progress(5, 1, "working", unit="item", interval=0) as progress:
                progress.add(2)
                raise RuntimeError("boom")
    assert terminal.getvalue().endswith("\n") and "2/5" in terminal.getvalue()
    assert "5/5" not in terminal.getvalue()
    assert log.getvalue() == ""


def test_unknown_total_and_bad_arguments():
    terminal = FakeTerminal()
    with contextlib.redirect_stdout(terminal):
        with Progress(None, 1, "reading", unit="line", interval=0) as progress:
            progress.add(7)
    assert "7/Unknown" in terminal.getvalue()
    with pytest.raises(ValueError, match="verbose must be >= 0 or 'auto'"):
        Progress(3, -1)
    from rearec_keras.utils.progress import _level

    assert [_level(v) for v in (0, 1, 2, 3, "auto", None)] == [0, 1, 2, 2, 1, 0]
    with pytest.raises(ValueError, match="total must be >= 0"):
        Progress(-1, 1)


def test_fit_verbosity_is_a_live_bar_in_a_terminal_and_a_line_per_epoch_elsewhere():
    with contextlib.redirect_stdout(FakeTerminal()):
        assert [fit_verbosity(v) for v in (0, 1, "auto", 2)] == [0, 1, 1, 2]
        assert live_bar(1) and not live_bar(2) and not live_bar(0)
    with contextlib.redirect_stdout(FakeLog()):
        assert [fit_verbosity(v) for v in (0, 1, "auto", 2)] == [0, 2, 2, 2]
        assert not live_bar(1)


# ------------------------------------------------------------ its users --


def _constant_scores(num_items):
    def score_fn(model, histories):
        rows = np.tile(np.arange(num_items + 1, dtype="float32"), (len(histories), 1))
        return rows

    return score_fn


def _examples(n, num_items=20, seed=0):
    rng = np.random.default_rng(seed)
    histories = rng.integers(1, num_items + 1, size=(n, 4)).astype("int32")
    return histories, rng.integers(1, num_items + 1, size=n).astype("int32")


def test_evaluation_over_many_users_shows_a_bar_in_a_terminal():
    from rearec_keras.evaluation import compute_ranks

    data = _examples(1000)
    terminal = FakeTerminal()
    with contextlib.redirect_stdout(terminal):
        quiet = compute_ranks(None, data, batch_size=100, score_fn=_constant_scores(20))
        assert terminal.getvalue() == ""
        ranks = compute_ranks(None, data, batch_size=100, score_fn=_constant_scores(20),
                              verbose=1)
    np.testing.assert_array_equal(ranks, quiet)  # output only
    out = terminal.getvalue()
    assert out.startswith("ranking\n") and "1000/1000" in out and out.endswith("\n")


def test_evaluation_prints_one_line_under_capture(capsys):
    from rearec_keras.evaluation import evaluate

    data = _examples(1000)
    evaluate(None, data, batch_size=100, score_fn=_constant_scores(20), verbose=1)
    out = capsys.readouterr().out
    assert re.fullmatch(r"ranking: 1,000 examples in [\d.]+s \(\d+(us|ms)/example\)\n", out)


def test_step_metrics_and_data_preparation_report_progress(capsys, tiny_config):
    from rearec_keras.experiments.factory import compiled_model
    from rearec_keras.experiments.prepare import prepare_data
    from rearec_keras.experiments.reports import step_metrics

    _, quiet = prepare_data(tiny_config, verbose=0)
    assert capsys.readouterr().out == ""
    _, split = prepare_data(tiny_config, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"preparing table from {tiny_config.data_path} ..."
    assert re.fullmatch(r"preparing table from .*: read, preprocessed and split in [\d.]+s",
                        lines[1])
    assert "interactions" in lines[2] and len(lines) == 4
    assert split.fingerprint() == quiet.fingerprint()

    model = compiled_model(tiny_config, split.num_items)
    silent = step_metrics(model, split.test, (10,), 16)
    assert capsys.readouterr().out == ""
    shown = step_metrics(model, split.test, (10,), 16, verbose=1)
    assert shown == silent
    n = len(split.test.targets)
    assert re.fullmatch(rf"evaluating test: {n:,} examples in [\d.]+s \(.*/example\)\n",
                        capsys.readouterr().out)


def _dtrec(**kwargs):
    import keras

    from rearec_keras import DTRec

    keras.utils.set_random_seed(0)
    model = DTRec(40, max_length=6, hidden_dim=16, num_layers=1, num_heads=1,
                  intermediate_dim=16, dropout=0.0, attention_dropout=0.0, input_dropout=0.0,
                  min_prototypes=4, **kwargs)
    model.build((None, 6))
    return model


def test_dtrec_kmeans_progress(capsys):
    model = _dtrec()
    assert model.method.recluster(model) and capsys.readouterr().out == ""
    runs = model.method.recluster(model, seed=1, verbose=1)
    out = capsys.readouterr().out
    per_level = "/".join(str(r) for r in runs)
    assert re.fullmatch(rf"DTRec K-means \(warm\): 40 items into 4/9/19 prototypes: "
                        rf"{sum(runs)} Lloyd iterations \({per_level} per level\) in [\d.]+s\n",
                        out)
    terminal = FakeTerminal()
    with contextlib.redirect_stdout(terminal):
        model.method.recluster(model, seed=2, verbose=1)
    total = 3 * model.method.kmeans_iterations
    assert terminal.getvalue().startswith("DTRec K-means (warm)")
    assert f"{total}/{total}" in terminal.getvalue()


def test_kmeans_reports_each_lloyd_iteration():
    from rearec_keras.prototypes import kmeans

    points = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    seen = []
    _, _, run = kmeans(points, 4, iterations=30, on_iteration=seen.append)
    assert seen == list(range(1, run + 1))


def test_fit_passes_its_verbosity_to_dtrec_reclustering(capsys):
    rng = np.random.default_rng(0)
    h = rng.integers(1, 41, size=(32, 6)).astype("int32")
    y = (h[:, -1] % 40 + 1).astype("int32")
    model = _dtrec(hps_warmup_epochs=0)
    model.compile(optimizer="adam")
    model.fit(h, y, epochs=1, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(h, y, epochs=1, batch_size=16, verbose=2)
    out = capsys.readouterr().out
    assert out.count("DTRec K-means (warm)") == 1 and "\r" not in out


def test_methods_without_verbose_still_get_on_epoch_begin():
    from rearec_keras.training.callbacks import _takes_verbose

    class Old:
        def on_epoch_begin(self, model, epoch):
            pass

    class New:
        def on_epoch_begin(self, model, epoch, verbose=0):
            pass

    assert not _takes_verbose(Old().on_epoch_begin)
    assert _takes_verbose(New().on_epoch_begin)
