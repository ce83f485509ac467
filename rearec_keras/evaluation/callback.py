"""Keras callback running full-ranking evaluation during `model.fit`."""

import keras
import numpy as np

from rearec_keras.evaluation.evaluator import _unpack_data
from rearec_keras.evaluation.evaluator import evaluate
from rearec_keras.evaluation.ranking import _validate_ks
from rearec_keras.evaluation.ranking import _validate_metrics


class RankingEvaluationCallback(keras.callbacks.Callback):
    """Adds full-ranking metrics (e.g. `val_ndcg@10`) to the epoch logs.

    At the end of every `every`-th epoch, `self.model` ranks each target of
    `data` against the whole catalog (see `evaluate`) and the results are
    written into the `logs` dict as `f"{prefix}{metric}@{k}"`, e.g.
    `val_ndcg@10`, `val_recall@20`, `val_mrr@10`.

    Keras hands the *same* `logs` dict to every callback of the list, in list
    order (`keras.callbacks.CallbackList.on_epoch_end`). The keys are thus
    visible to the `History` and progress-bar callbacks that `fit` appends at
    the end of the list, and to every callback placed **after** this one.
    Place this callback **before** `EarlyStopping`, `ModelCheckpoint`,
    `CSVLogger`, `ReduceLROnPlateau`, a user-supplied `History`, or any other
    callback that should read these metrics. Since Keras cannot infer the
    direction of a custom metric name, pass `mode="max"` to `EarlyStopping`
    and `ModelCheckpoint` (with `mode="auto"` `EarlyStopping` raises a
    `ValueError`). For KerasTuner use
    `keras_tuner.Objective("val_ndcg@10", direction="max")`.

    With `every > 1`, epochs that are skipped carry no metric keys (like
    `validation_freq` in `fit`), so `history.history["val_ndcg@10"]` has one
    entry per evaluated epoch, `EarlyStopping` counts patience in
    evaluations (and warns on skipped epochs), and `CSVLogger` must first see
    an evaluated epoch to create the columns.

    Args:
        data: evaluation examples: an object with `.histories` and
            `.targets` (e.g. a validation split part), a
            `(histories, targets)` tuple, or a dict with those keys.
        ks: int or sequence of positive ints. Cutoffs. Defaults to `(10, 20)`.
        prefix: str. Prefix of the log keys. Defaults to `"val_"`.
        batch_size: int. Histories scored at once. Defaults to `256`.
        exclude_history: bool. Remove history items from the competition.
            Defaults to `False`.
        every: int. Evaluate after every `every`-th epoch (epochs `every`,
            `2 * every`, ... counting from 1). Defaults to `1`.
        metrics: names among `"ndcg"`, `"recall"`, `"mrr"`. Defaults to all.
        verbose: int. `0` is silent, `1` prints the metrics after each
            evaluation, `2` also shows an evaluation progress bar.
        score_fn: optional callable `(model, histories) -> scores`
            overriding `model.predict_on_batch(histories)`.

    Attributes:
        last_results: dict of the latest un-prefixed results (or `None`).
        results: dict mapping each evaluated epoch (0-based) to its
            un-prefixed results.

    Example:

    ```python
    callbacks = [
        RankingEvaluationCallback(splits.valid, ks=(10, 20)),
        keras.callbacks.EarlyStopping(
            monitor="val_ndcg@20", mode="max", patience=10,
            restore_best_weights=True,
        ),
    ]
    history = model.fit(train_ds, epochs=200, callbacks=callbacks)
    history.history["val_ndcg@20"]
    ```
    """

    def __init__(
        self,
        data,
        ks=(10, 20),
        *,
        prefix="val_",
        batch_size=256,
        exclude_history=False,
        every=1,
        metrics=("ndcg", "recall", "mrr"),
        verbose=0,
        score_fn=None,
    ):
        super().__init__()
        # Validate eagerly so that mistakes surface before training starts.
        _unpack_data(data)
        self.data = data
        self.ks = _validate_ks(ks)
        self.metrics = _validate_metrics(metrics)
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string. Received: {prefix!r}")
        self.prefix = prefix
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(
                "`batch_size` must be a positive integer. "
                f"Received: {batch_size!r}"
            )
        self.batch_size = int(batch_size)
        if (
            isinstance(every, bool)
            or not isinstance(every, (int, np.integer))
            or every < 1
        ):
            raise ValueError(
                f"`every` must be a positive integer. Received: {every!r}"
            )
        self.every = int(every)
        if score_fn is not None and not callable(score_fn):
            raise ValueError(
                f"`score_fn` must be callable. Received: {score_fn!r}"
            )
        self.score_fn = score_fn
        self.exclude_history = bool(exclude_history)
        self.verbose = verbose
        self.last_results = None
        self.results = {}

    @property
    def monitor_keys(self):
        """The log keys this callback writes, e.g. `["val_ndcg@10", ...]`."""
        return [
            f"{self.prefix}{name}@{k}" for k in self.ks for name in self.metrics
        ]

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every != 0:
            return
        results = evaluate(
            self.model,
            self.data,
            self.ks,
            batch_size=self.batch_size,
            exclude_history=self.exclude_history,
            score_fn=self.score_fn,
            metrics=self.metrics,
            verbose=1 if self.verbose and self.verbose > 1 else 0,
        )
        self.last_results = results
        self.results[epoch] = results
        prefixed = {
            f"{self.prefix}{key}": value for key, value in results.items()
        }
        if logs is not None:
            # In-place update: later callbacks receive this very dict.
            logs.update(prefixed)
        if self.verbose:
            summary = " - ".join(
                f"{key}: {value:.4f}" for key, value in prefixed.items()
            )
            print(f"\nEpoch {epoch + 1}: {summary}")
