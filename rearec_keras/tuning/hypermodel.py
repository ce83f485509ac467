"""KerasTuner `HyperModel`s for the ReaRec model families."""

import keras
import keras_tuner

from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import parse_metric
from rearec_keras.tuning.search_space import SearchSpace
from rearec_keras.tuning.search_space import SearchSpaceError


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

    def __init__(self, num_items, config=None, search_space=None, overrides=None, **settings):
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
        if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 1:
            raise ValueError(f"num_items must be a positive integer, got {num_items!r}")
        self.num_items = num_items
        self.config = config
        if isinstance(search_space, SearchSpace):
            search_space = search_space.spec
        self.search_space = SearchSpace(search_space, config, overrides)
        metric, k = parse_metric(config.monitor)
        self.objective = keras_tuner.Objective(f"val_{metric}@{k}", direction="max")

    def trial_config(self, hp) -> RunConfig:
        """The full `RunConfig` of a trial (declares the space on `hp`)."""
        return self.config.replace(**self.search_space.declare(hp))

    def build(self, hp):
        from rearec_keras.experiments.runner import build_model

        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, self.num_items)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        return model

    def fit(self, hp, model, x=None, *args, validation_data=None, callbacks=None, epochs=None,
            **kwargs):
        """Trains one trial. `x` is a training `SplitPart` (batched and
        shuffled with `config.batch_size` and `config.seed`) or anything
        `model.fit` takes; `validation_data` is the validation `SplitPart`
        (or `(histories, targets)`) ranked against the full catalog."""
        from rearec_keras.evaluation import RankingEvaluationCallback

        config = self.config
        if validation_data is None:
            raise ValueError(
                "ReaRecHyperModel.fit needs validation_data (e.g. split.valid): the objective "
                f"{self.objective.name!r} is computed by ranking it against the catalog"
            )
        if hasattr(x, "as_dataset"):
            x = x.as_dataset(config.batch_size, shuffle=True, seed=config.seed)
            kwargs.setdefault("shuffle", False)  # the dataset shuffles itself
        evaluation = RankingEvaluationCallback(
            validation_data, ks=config.ks, batch_size=config.eval_batch_size
        )
        stopping = keras.callbacks.EarlyStopping(
            monitor=self.objective.name, mode="max", patience=config.patience
        )
        # The evaluation must run first: the tuner's own callbacks (which
        # record the objective and checkpoint the best epoch) read its logs.
        callbacks = [evaluation, stopping, *(callbacks or [])]
        return model.fit(
            x, *args, epochs=config.epochs if epochs is None else epochs,
            callbacks=callbacks, **kwargs,
        )


class ReaSASRecHyperModel(ReaRecHyperModel):
    """`ReaRecHyperModel` for SASRec (causal) backbones: `SASRec` for
    `learning="base"`, `ReaSASRec` otherwise."""

    backbone = "sasrec"


class ReaBERT4RecHyperModel(ReaRecHyperModel):
    """`ReaRecHyperModel` for BERT4Rec backbones (prefix masking for the
    reasoning steps): `BERT4Rec` for `learning="base"`, `ReaBERT4Rec`
    otherwise."""

    backbone = "bert4rec"
