"""The fit loop shared by `train_run`, `compare` and tuning.

`setup_for(config)` resolves the config's distribution strategy once; the
returned `TrainingSetup` is passed down to everything that depends on it
(the model's scope, the training dataset, the validation scorer), instead
of each helper deriving it again. `fit` is `model.fit` with the full-ranking
validation callback first (it puts the monitored metric into the logs) and
the method's phase schedule.
"""

from __future__ import annotations

import contextlib
import dataclasses

from rearec_keras.utils.progress import fit_verbosity


@dataclasses.dataclass
class TrainingSetup:
    """How a config trains: its strategy, resolved once.

    Attributes:
        config: the `RunConfig` (batch size, seed, ks, eval batch size).
        strategy: the strategy object (`rearec_keras.distribute`), or None
            for the default single device.
    """

    config: object
    strategy: object = None

    @property
    def num_replicas(self) -> int:
        from rearec_keras import distribute

        return distribute.num_replicas(self.strategy)

    def scope(self):
        """The context to create, compile and fit a model in."""
        from rearec_keras import distribute

        if self.strategy is None:
            return contextlib.nullcontext()
        return distribute.distribution_scope(self.strategy)

    def training_dataset(self, part):
        """The training `SplitPart` batched and shuffled as the config says
        (fit it with `shuffle=False`: the dataset shuffles itself).

        `config.batch_size` is the global batch. Under a strategy with
        several replicas it must split evenly between them, and the last
        partial batch of an epoch is dropped (a different remainder each
        epoch, as the order reshuffles), so that every replica gets the same
        number of examples; `multi_worker` shards each batch between the
        workers.
        """
        from rearec_keras import distribute
        from rearec_keras.experiments.config import ConfigError

        config = self.config
        replicas = self.num_replicas
        if replicas > 1:
            try:
                distribute.check_global_batch(config.batch_size, self.strategy)
            except distribute.StrategyError as e:
                raise ConfigError(str(e)) from None
            if len(part.targets) < config.batch_size:
                raise ConfigError(
                    f"the training data has {len(part.targets):,} examples, fewer than one "
                    f"global batch (batch_size={config.batch_size}) over {replicas} replicas"
                )
        dataset = config.method.training_batches(
            part, config.batch_size, shuffle=True, seed=config.seed, drop_remainder=replicas > 1)
        if dataset is not None:  # the method's own batches (a PyDataset)
            if self.strategy is not None and hasattr(self.strategy, "num_replicas_in_sync"):
                # tf.distribute shards a tf.data pipeline (JAX splits any batch).
                dataset = distribute.batches_as_dataset(dataset)
        else:
            dataset = part.as_dataset(config.batch_size, shuffle=True, seed=config.seed,
                                      drop_remainder=replicas > 1)
        return distribute.prepare_dataset(dataset, self.strategy)

    def validation_callback(self, part):
        """Full-ranking evaluation of `part` after every epoch (puts the
        `val_` metrics, the monitored one included, into the logs).

        Under a strategy the model scores each batch with a direct call:
        Keras' `predict_on_batch` of a model made under `MirroredStrategy`
        runs the whole batch on every replica and returns the rows once per
        replica.
        """
        from rearec_keras.evaluation import RankingEvaluationCallback

        score_fn = None if self.strategy is None else _direct_scores
        return RankingEvaluationCallback(part, ks=self.config.ks,
                                         batch_size=self.config.eval_batch_size,
                                         score_fn=score_fn)


def _direct_scores(model, histories):
    return model(histories, training=False)


def setup_for(config) -> TrainingSetup:
    """The `TrainingSetup` of a `RunConfig`: its strategy made once per
    process (`ConfigError` if the active backend cannot run it).
    `multi_worker` must be made before any TensorFlow op runs."""
    from rearec_keras import distribute
    from rearec_keras.experiments.config import ConfigError

    try:
        strategy = distribute.make_strategy(config.strategy)
    except distribute.StrategyError as e:
        raise ConfigError(str(e)) from None
    return TrainingSetup(config, strategy)


def fit(model, train, valid, setup: TrainingSetup, *, callbacks=(), epochs=None, verbose="auto",
        **kwargs):
    """Trains `model` on a training `SplitPart` (or a dataset), validating
    on `valid` by full ranking after every epoch.

    Args:
        model: a compiled model, created in `setup.scope()`.
        train: the training `SplitPart` (batched and shuffled by `setup`)
            or anything `model.fit` takes.
        valid: the validation `SplitPart` (or `(histories, targets)`).
        setup: the `TrainingSetup` (strategy, batch size, seed, ks).
        callbacks: run after the validation callback (so they can read the
            `val_` metrics), e.g. a `RunTracker`.
        epochs: default `setup.config.epochs`.
        verbose: Keras' verbosity (default `"auto"`, as 1); 1 (a live
            progress bar per epoch) becomes 2 (one line per epoch) when
            stdout is not a terminal (`rearec_keras.utils.progress`).
        **kwargs: other `model.fit` arguments.

    Returns:
        The Keras `History`.
    """
    if hasattr(train, "as_dataset"):
        train = setup.training_dataset(train)
        kwargs.setdefault("shuffle", False)  # the dataset shuffles itself
    callbacks = [setup.validation_callback(valid), *callbacks]
    verbose = fit_verbosity(verbose)  # a live bar in a terminal, else a line per epoch
    with setup.scope():
        return model.fit(train, epochs=setup.config.epochs if epochs is None else epochs,
                         callbacks=callbacks, verbose=verbose, **kwargs)
