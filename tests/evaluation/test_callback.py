import csv
import types
import warnings

import keras
import numpy as np
import pytest

from rearec_keras.evaluation import RankingEvaluationCallback
from rearec_keras.evaluation import evaluate

NUM_ITEMS = 30
SEQ_LEN = 4
KEYS = [
    "val_ndcg@10",
    "val_recall@10",
    "val_mrr@10",
    "val_ndcg@20",
    "val_recall@20",
    "val_mrr@20",
]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(7)


def _data(n, seed):
    # "Next item = last item + 1 (mod catalog)": learnable in a few epochs.
    rng = np.random.default_rng(seed)
    last = rng.integers(1, NUM_ITEMS + 1, size=n)
    histories = np.stack(
        [(last - SEQ_LEN + 1 + i - 1) % NUM_ITEMS + 1 for i in range(SEQ_LEN)],
        axis=1,
    ).astype("int32")
    targets = (last % NUM_ITEMS + 1).astype("int32")
    return types.SimpleNamespace(
        histories=histories,
        targets=targets,
        user_ids=np.arange(n, dtype="int32"),
    )


def _model(learning_rate=0.05):
    inputs = keras.Input((SEQ_LEN,), dtype="int32")
    x = keras.layers.Embedding(NUM_ITEMS + 1, 16)(inputs[:, -1])
    outputs = keras.layers.Dense(NUM_ITEMS + 1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _fit(model, callbacks, epochs, verbose=0):
    train = _data(64, seed=0)
    return model.fit(
        train.histories,
        train.targets,
        batch_size=32,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    )


def test_metrics_reach_history():
    valid = _data(20, seed=1)
    model = _model()
    callback = RankingEvaluationCallback(valid, batch_size=8)
    history = _fit(model, [callback], epochs=3)
    for key in KEYS:
        assert key in history.history
        assert len(history.history[key]) == 3
        assert all(0.0 <= v <= 1.0 for v in history.history[key])
    # The last logged values are those of the final weights.
    final = evaluate(model, valid)
    for key, value in final.items():
        assert history.history[f"val_{key}"][-1] == pytest.approx(value)
    assert callback.last_results == final
    assert sorted(callback.results) == [0, 1, 2]
    assert callback.monitor_keys == KEYS


def test_training_improves_logged_metric():
    valid = _data(20, seed=1)
    history = _fit(
        _model(learning_rate=0.1),
        [RankingEvaluationCallback(valid, ks=(1,))],
        epochs=15,
    )
    values = history.history["val_recall@1"]
    assert values[-1] > values[0]


def test_early_stopping_uses_logged_metric():
    valid = _data(20, seed=1)
    # A zero learning rate: the metric never improves.
    evaluation = RankingEvaluationCallback(valid, ks=(10,))
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_ndcg@10", mode="max", patience=2
    )
    with warnings.catch_warnings():
        # EarlyStopping warns when its metric is missing from `logs`.
        warnings.filterwarnings("error", message=".*not available.*")
        history = _fit(_model(learning_rate=0.0), [evaluation, stopper], 20)
    assert len(history.history["loss"]) == 3
    assert stopper.stopped_epoch == 2
    assert len(set(history.history["val_ndcg@10"])) == 1


def test_early_stopping_before_callback_does_not_see_metric():
    # Documents the ordering requirement: Keras passes one `logs` dict from
    # callback to callback in list order.
    valid = _data(20, seed=1)
    evaluation = RankingEvaluationCallback(valid, ks=(10,))
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_ndcg@10", mode="max", patience=1
    )
    with pytest.warns(UserWarning, match="which is not available"):
        history = _fit(_model(learning_rate=0.0), [stopper, evaluation], 4)
    assert len(history.history["loss"]) == 4  # never stopped
    assert len(history.history["val_ndcg@10"]) == 4  # History still sees it


def test_model_checkpoint_and_csv_logger(tmp_path):
    valid = _data(20, seed=1)
    checkpoint_path = tmp_path / "best.keras"
    csv_path = tmp_path / "log.csv"
    callbacks = [
        RankingEvaluationCallback(valid, ks=(10,)),
        keras.callbacks.ModelCheckpoint(
            str(checkpoint_path),
            monitor="val_ndcg@10",
            mode="max",
            save_best_only=True,
        ),
        keras.callbacks.CSVLogger(str(csv_path)),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(_model(), callbacks, epochs=2)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "val_ndcg@10" in m], messages
    assert checkpoint_path.exists()
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert "val_ndcg@10" in rows[0]
    assert 0.0 <= float(rows[-1]["val_ndcg@10"]) <= 1.0


def test_progress_bar_shows_metrics(capsys):
    valid = _data(20, seed=1)
    _fit(_model(), [RankingEvaluationCallback(valid, ks=(10,))], 1, verbose=2)
    assert "val_ndcg@10" in capsys.readouterr().out


def test_every_and_prefix():
    valid = _data(20, seed=1)
    callback = RankingEvaluationCallback(
        valid, ks=(5,), every=2, prefix="test_", metrics=("recall",)
    )
    history = _fit(_model(), [callback], epochs=5)
    assert len(history.history["test_recall@5"]) == 2  # epochs 2 and 4
    assert sorted(callback.results) == [1, 3]
    assert not [k for k in history.history if k.startswith("val_")]


def test_verbose_prints_results(capsys):
    valid = _data(20, seed=1)
    _fit(_model(), [RankingEvaluationCallback(valid, ks=(5,), verbose=1)], 1)
    assert "val_ndcg@5:" in capsys.readouterr().out


def test_score_fn_receives_model():
    valid = _data(20, seed=1)
    seen = []

    def score_fn(model, histories):
        seen.append(model)
        return model.predict_on_batch(histories)

    model = _model()
    _fit(model, [RankingEvaluationCallback(valid, score_fn=score_fn)], 1)
    assert seen and all(m is model for m in seen)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ks": ()}, "at least one"),
        ({"ks": (0,)}, "positive integer"),
        ({"metrics": ("auc",)}, "unknown metric name 'auc'"),
        ({"every": 0}, "`every`"),
        ({"batch_size": -1}, "`batch_size`"),
        ({"prefix": None}, "`prefix`"),
        ({"score_fn": 3}, "`score_fn`"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RankingEvaluationCallback(_data(4, seed=0), **kwargs)


def test_constructor_validates_data():
    with pytest.raises(ValueError, match="empty"):
        RankingEvaluationCallback((np.zeros((0, 4)), np.zeros((0,))))
