"""KerasTuner `HyperModel`s for the ReaRec model families."""

import keras
import keras_tuner

from rearec_keras import training
from rearec_keras.experiments import factory
from rearec_keras.experiments import reports
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import config_check
from rearec_keras.tuning.search_space import SearchSpace
from rearec_keras.tuning.search_space import SearchSpaceError
from rearec_keras.utils.validation import check_int


class ReaRecHyperModel(keras_tuner.HyperModel):
    """A ReaRec model family as a KerasTuner `HyperModel`.

    Each trial builds the model of `config` with the trial's values of the
    search space (the paper's grid for `config.learning` by default: λ and K
    for ERL, τ, α and K for PRL), explicitly built (so `get_best_models()`
    can load weights into it) and compiled with Adam. `fit` adds the
    full-ranking evaluation on `validation_data` (which puts the objective,
    `val_ndcg@20` by default, into the epoch logs) and early stopping on it.

    Every trial starts from the same seed (`config.seed`): two trials differ
    only by their hyperparameters.

    Args:
        num_items: size of the item catalog (ids `1..num_items`).
        config: `RunConfig` with the settings that stay fixed (default:
            `RunConfig()`); `epochs`, `patience`, `monitor`, `ks`,
            `batch_size` and `eval_batch_size` are used by `fit`.
        search_space: mapping of setting to values / range (see
            `SearchSpace`), or a `SearchSpace`; None: the paper's grid.
        overrides: mapping merged over the search space (None removes).
        item_frequencies: `split.train_item_counts()`, needed when the
            config samples `popularity` or `in_batch` negatives.
        item_features: `runner.item_features_for(config, split)`, needed
            by the text backbones (`unisrec`, `morec`); every trial shares
            them.
        **settings: `RunConfig` settings applied over `config`.

    Example:

    ```python
    hypermodel = ReaSASRecHyperModel(split.num_items, learning="prl")
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=hypermodel.objective, max_trials=20,
        directory="tuning", project_name="prl")
    tuner.search(split.train, validation_data=split.valid)
    best = tuner.get_best_models(1)[0]
    ```
    """

    backbone = None

    def __init__(self, num_items, config=None, search_space=None, overrides=None,
                 item_frequencies=None, item_features=None, **settings):
        super().__init__(name=settings.pop("name", None), tunable=True)
        config = config if config is not None else RunConfig()
        if not isinstance(config, RunConfig):
            raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
        if self.backbone is not None:
            if settings.get("backbone", self.backbone) != self.backbone:
                raise SearchSpaceError(
                    f"{type(self).__name__} trains backbone={self.backbone!r}, "
                    f"got backbone={settings['backbone']!r}"
                )
            settings["backbone"] = self.backbone
        if settings:
            config = config.replace(**settings)
        self.num_items = config_check(check_int, "num_items", num_items, 1)
        if config.strategy == "multi_worker":
            raise ConfigError(
                "tuning trains each trial in one process: use --strategy mirrored or "
                "data_parallel for the devices of one host, and KerasTuner's distributed "
                "mode (--oracle/--tuner-id) to spread trials over hosts"
            )
        self.config = config
        self.item_frequencies = item_frequencies
        self.item_features = item_features
        if (isinstance(search_space, SearchSpace) and overrides is None
                and search_space.config == config):
            self.search_space = search_space  # already checked against this config
        else:
            if isinstance(search_space, SearchSpace):
                search_space = search_space.spec
            self.search_space = SearchSpace(search_space, config, overrides)
        self.objective = keras_tuner.Objective(reports.monitor_name(config), direction="max")
        self.setup = training.setup_for(config)

    def trial_config(self, hp) -> RunConfig:
        """The full `RunConfig` of a trial (declares the space on `hp`),
        with the method's `trial_settings` (a trial is one `fit`)."""
        config = self.config.replace(**self.search_space.declare(hp))
        method = config.method
        extra = method.trial_settings(
            {name: config.method_settings[name] for name in method.setting_names()},
            config.epochs)
        return config.replace(**extra) if extra else config

    def build(self, hp):
        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.seed)
        return factory.compiled_model(config, self.num_items, self.item_frequencies,
                                      self.item_features, setup=self.setup)

    def fit(self, hp, model, x=None, *args, validation_data=None, callbacks=None, epochs=None,
            **kwargs):
        """Trains one trial. `x` is a training `SplitPart` (batched and
        shuffled with `config.batch_size` and `config.seed`) or anything
        `model.fit` takes; `validation_data` is the validation `SplitPart`
        (or `(histories, targets)`) ranked against the full catalog."""
        config = self.config
        if validation_data is None:
            raise ValueError(
                "ReaRecHyperModel.fit needs validation_data (e.g. split.valid): the objective "
                f"{self.objective.name!r} is computed by ranking it against the catalog"
            )
        stopping = keras.callbacks.EarlyStopping(
            monitor=self.objective.name, mode="max", patience=config.patience
        )
        # `training.fit` runs the evaluation first: the tuner's own callbacks
        # (which record the objective and checkpoint the best epoch) read its
        # logs.
        if args:
            raise TypeError("ReaRecHyperModel.fit takes the training data and keyword arguments")
        return training.fit(model, x, validation_data, self.setup,
                            callbacks=[stopping, *(callbacks or [])],
                            epochs=config.epochs if epochs is None else epochs, **kwargs)


class ReaSASRecHyperModel(ReaRecHyperModel):
    """`ReaRecHyperModel` for SASRec (causal) backbones: `SASRec` for
    `learning="base"`, `ReaSASRec` otherwise."""

    backbone = "sasrec"


class ReaBERT4RecHyperModel(ReaRecHyperModel):
    """`ReaRecHyperModel` for BERT4Rec backbones (prefix masking for the
    reasoning steps): `BERT4Rec` for `learning="base"`, `ReaBERT4Rec`
    otherwise."""

    backbone = "bert4rec"


class ReaHSTUHyperModel(ReaRecHyperModel):
    """`ReaRecHyperModel` for HSTU backbones: `HSTU` for `learning="base"`,
    `ReaHSTU` otherwise."""

    backbone = "hstu"
