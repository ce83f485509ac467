"""The model of a run: item features, the model class from the backbone and
method registries, compiled in the run's strategy scope."""

from pathlib import Path

from rearec_keras.experiments.config import MODEL_KEYS
from rearec_keras.experiments.config import TEXT_ENCODER_FEATURES
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.prepare import log_progress


def item_features_for(config: RunConfig, split, verbose=0):
    """The frozen item features a text backbone trains on, or None for the
    id backbones (`sasrec`, `bert4rec`).

    `config.text_features="minilm"` encodes the items' text with
    `rearec_keras.text.item_text_features` (cached on disk, so computed once
    per dataset); otherwise it is the path of a `.npy` matrix with
    `split.num_items` rows (row `i - 1` is item `i`, the split's internal id
    order) or `split.num_items + 1` (row 0 padding, dropped). `pca_dim`
    reduces either to that many principal components.

    Returns:
        A float32 `[split.num_items, F]` matrix; `ConfigError` if the
        features cannot be had or do not fit the split.
    """
    import numpy as np

    if not config.backbone_spec.item_features:
        return None
    num_items = int(split.num_items)
    if config.text_features in TEXT_ENCODER_FEATURES:
        from rearec_keras.text import item_text_features

        log_progress(verbose, f"item text features ({config.text_features}"
                      + (f", PCA to {config.pca_dim}" if config.pca_dim else "") + ")")
        try:
            features = item_text_features(split, pca_dim=config.pca_dim, verbose=verbose)
        except (ValueError, KeyError, ImportError) as e:
            raise ConfigError(
                f"cannot compute text_features={config.text_features!r} for "
                f"dataset={config.dataset!r}: {e} (pass --text-features FILE.npy with your own "
                "[num_items, F] features)"
            ) from None
        source = f"text_features={config.text_features!r}"
        features = np.asarray(features)
        pca_done = True
    else:
        path = Path(config.text_features).expanduser()
        if not path.is_file():
            raise ConfigError(f"text_features file not found: {config.text_features}")
        log_progress(verbose, f"item features from {path}")
        try:
            features = np.load(path, allow_pickle=False)
        except Exception as e:  # not a .npy file, or an object array
            raise ConfigError(
                f"text_features file {path} is not a readable .npy matrix: {e}"
            ) from None
        source = f"text_features file {path}"
        pca_done = False
    from rearec_keras.layers.text_adaptors import check_item_features

    try:  # shape, dtype, row count and finite values; row 0 becomes padding
        features = check_item_features(features, num_items)[1:]
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    if config.pca_dim is not None and not pca_done:
        from rearec_keras.text import pca

        try:
            features = np.asarray(pca(features, config.pca_dim), dtype="float32")
        except ValueError as e:
            raise ConfigError(f"pca_dim={config.pca_dim} for {source}: {e}") from None
    return features


def build_model(config: RunConfig, num_items: int, item_frequencies=None, item_features=None):
    """The (uncompiled) model a config describes, built.

    `item_frequencies` (`split.train_item_counts()`) are needed when the
    config samples `popularity` or `in_batch` negatives; `item_features`
    (`item_features_for(config, split)`) by the text backbones (`unisrec`,
    `morec`).
    """
    backbone = config.backbone_spec
    method = config.method
    kwargs = {key: getattr(config, key) for key in MODEL_KEYS}
    kwargs.update({key: getattr(config, key) for key in method.setting_names()})
    kwargs["dtype"] = config.precision
    if config.negatives != "full":
        kwargs["item_frequencies"] = item_frequencies  # the model says if it needs them
    kwargs.update({key: getattr(config, key) for key in backbone.setting_names})
    if backbone.item_features:
        if item_features is None:
            raise ConfigError(
                f"backbone={config.backbone!r} needs item features: pass "
                "item_features=item_features_for(config, split)"
            )
        kwargs["item_features"] = item_features
    cls = backbone.model_class(reasoning=method.reasons)
    if method.reasons:
        kwargs.update(reasoning_steps=config.reasoning_steps, learning=config.learning)
    try:
        model = cls(num_items, **kwargs)
    except ValueError as e:  # settings that do not fit the data (num_negatives, features)
        raise ConfigError(f"{config.describe()}: {e}") from None
    model.build((None, config.max_length))
    return model


def compiled_model(config: RunConfig, num_items: int, item_frequencies=None, item_features=None,
                   setup=None):
    """`build_model`, compiled with Adam at `config.learning_rate`, created
    in the scope of the config's strategy (`setup`, a
    `rearec_keras.training.TrainingSetup`, default `setup_for(config)`; fit
    it in `setup.scope()`)."""
    import keras

    from rearec_keras.training import setup_for

    setup = setup if setup is not None else setup_for(config)
    with setup.scope():
        model = build_model(config, num_items, item_frequencies, item_features)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return model
