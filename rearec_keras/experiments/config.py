"""The configuration of one run: data, model, training; files and flags.

A `RunConfig` holds every setting of `rearec-keras train` under one flat
set of keys. The same keys are accepted in a JSON, YAML or TOML file
(`--config FILE`) and as command-line flags (`--kl-weight 0.01` sets
`kl_weight`); flags given explicitly override the file. Unknown keys and
values outside their range raise `ConfigError`, naming the key.
"""

import contextlib
import contextvars
import dataclasses
import json
import os
import types
from pathlib import Path
from typing import Any

from rearec_keras import backbones
from rearec_keras import methods
from rearec_keras.distribute import STRATEGIES
from rearec_keras.utils.choices import METRICS
from rearec_keras.model_settings import MODEL_SETTINGS
from rearec_keras.model_settings import default as model_default
from rearec_keras.utils.choices import DUPLICATES
from rearec_keras.utils.choices import PRECISIONS
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int

DATASETS = ("ml-100k", "ml-1m", "recbole", "amazon", "yelp", "table")
SPLITS = ("leave_one_out", "temporal", "predefined")
# `text_features` value computing the features with the package's encoder
# (any other value is the path of a `.npy` matrix).
TEXT_ENCODER_FEATURES = ("minilm",)
# Settings restricted to a fixed set of values (validated here, offered as
# `choices` by the command line). `backbone` and `learning` come from their
# registries and the methods' own settings from the methods (`choices_of`).
CHOICES = {
    "dataset": DATASETS,
    "split": SPLITS,
    "duplicates": DUPLICATES,
    "precision": PRECISIONS,
    "strategy": STRATEGIES,
}
# Settings that say how a run executes, not what it computes: a run
# directory may be resumed with other values.
EXECUTION_KEYS = ("strategy",)
# Settings passed unchanged to every model constructor (same names); the
# learning method's own settings and the backbone's are added to them.
MODEL_KEYS = tuple(k for k in MODEL_SETTINGS if k != "reasoning_steps")
# Settings of the item-feature (text) backbones beyond their constructors'.
FEATURE_SETTINGS = ("text_features", "pca_dim")


def choices_of(name):
    """The allowed values of a setting, or None when it is not a choice."""
    if name == "backbone":
        return backbones.backbone_names()
    if name == "learning":
        return methods.method_names()
    if name in CHOICES:
        return CHOICES[name]
    setting = MODEL_SETTINGS.get(name) or methods.all_settings().get(name)
    return None if setting is None else setting.choices


def text_settings() -> tuple:
    """Every setting only the item-feature backbones read (what sasrec and
    bert4rec ignore)."""
    out = list(FEATURE_SETTINGS)
    for name in backbones.feature_backbones():
        out.extend(s for s in backbones.get_backbone(name).setting_names if s not in out)
    return tuple(out)


# While set, `validate` does not require the `text_features` file to exist
# (a trained run holds its features in best.keras; see `lenient_paths`).
_CHECK_PATHS = contextvars.ContextVar("rearec_keras_check_paths", default=True)


@contextlib.contextmanager
def lenient_paths():
    """Configs made inside skip the `text_features` file-existence check
    (to read back a finished run whose feature file has since moved)."""
    token = _CHECK_PATHS.set(False)
    try:
        yield
    finally:
        _CHECK_PATHS.reset(token)


class ConfigError(ValueError):
    """A setting is unknown, has the wrong type or is out of range."""


@dataclasses.dataclass
class RunConfig:
    """Every setting of one training run (paper names where they exist).

    Data:
        dataset: one of `DATASETS`. `ml-100k`/`ml-1m` are read from `data_path`,
            the Keras cache or the `recbole` package; the others need
            `data_path` (`recbole`: a directory of atomic files; `table`: a
            CSV/TSV/Parquet file with `user_id,item_id,timestamp` columns;
            `amazon`: the 2023 split CSVs, with `dataset_options.category`).
        data_path: file or directory of the data, or None.
        dataset_options: extra keyword arguments of the loader.
        split: `leave_one_out` (default), `temporal` (global time cut at the
            `temporal_fractions` of the time span) or `predefined` (Amazon).
        max_length: history length `L`.
        rating_threshold: keep ratings `> rating_threshold` (None: keep all).
        k_core: iterative k-core filter (None: none).
        duplicates: repeated interactions, dropped before the split and
            counted in `data.json`: `exact` (default: same user, item and
            timestamp), `first` / `last` (one per user-item pair) or
            `none` (keep all).
        temporal_fractions: `(valid_start, test_start)` as fractions of the
            time span, for `split="temporal"`.
    Model:
        backbone: a registered backbone (`rearec_keras.backbones`):
            `sasrec`, `bert4rec`, `hstu`, or a text backbone, `unisrec`
            (`ReaUniSRec`) or `morec` (`ReaMoRec`), whose items are frozen
            text features through a trainable adaptor.
        learning: a registered learning method (`rearec_keras.methods`):
            `base` (no reasoning), `rpe`, `naive`, `erl`, `prl`.
        reasoning_steps: `K` (ignored, and stored as 0, for `base`).
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout,
        attention_dropout, input_dropout, base_temperature (τ), negatives,
        num_negatives: see `ReaRecModel` (`negatives` other than `full`
            trains with a sampled softmax; the popularity counts are the
            training targets' `split.train_item_counts()`).
        the methods' settings: every registered method's `settings` is a
            key too (`kl_weight` (λ), `diversity`, `loss_variant` for ERL;
            `temperature_decay` (α), `noise_std` (γ), ... for PRL; see
            `rearec_keras.methods.get_method(name).settings`). All are
            stored; only the trained method's reach the model.
        precision: `float32` or `mixed_bfloat16` (bf16 compute, float32
            weights, catalog scores and losses).
    Text backbones (`unisrec`, `morec`; ignored by the others):
        text_features: `minilm` (default: the items' text encoded with
            all-MiniLM-L6-v2 by `rearec_keras.text.item_text_features`,
            cached on disk) or the path of a `.npy` float matrix
            `[num_items, F]` (row `i - 1` is item `i` in the split's internal
            id order) or `[num_items + 1, F]` (row 0 padding), e.g. LLM
            embeddings.
        pca_dim: reduce the features to this many principal components
            (None: keep all F).
        id_fusion: add a learned id embedding to each item's text vector.
        num_experts: whitening experts of UniSRec's MoE adaptor.
        adaptor_dropout: dropout on the features in training (None: the
            model's default, 0.2 UniSRec, 0.0 MoRec).
        projection_hidden_dim: hidden size of MoRec's projection MLP (None:
            one dense layer).
    HSTU (ignored by the others):
        time_buckets: buckets of HSTU's relative time bias (0, default:
            none). With > 0 every history item's timestamp is fed from the
            split (`SplitPart.history_timestamps`) in training, evaluation
            and serving; a split without them (the Amazon files' history
            column) is refused.
    Training:
        seed, epochs (maximum), batch_size, learning_rate (Adam), patience
        (epochs without improvement of `monitor` on validation before
        stopping), monitor (`ndcg@20` etc.), ks (cut-offs reported),
        eval_batch_size.
        strategy: data-parallel training (`rearec_keras.distribute`):
            `default` (one device), `mirrored` (TensorFlow, local GPUs or
            logical CPUs), `multi_worker` (TensorFlow, hosts from
            `TF_CONFIG`) or `data_parallel` (JAX). `batch_size` is the
            global batch, split over the replicas (it must be divisible by
            their number; a last partial batch is dropped).
    """

    # data
    dataset: str = "ml-100k"
    data_path: str | None = None
    dataset_options: dict = dataclasses.field(default_factory=dict)
    split: str = "leave_one_out"
    max_length: int = model_default("max_length")
    rating_threshold: float | None = None
    k_core: int | None = None
    duplicates: str = "exact"
    temporal_fractions: tuple = (0.8, 0.9)
    # model
    backbone: str = "sasrec"
    # The main job (`rearec-keras train`): ERL at batch 1024, see
    # `rearec_keras.experiments.presets` (and its `paper` preset).
    learning: str = "erl"
    reasoning_steps: int = model_default("reasoning_steps")
    hidden_dim: int = model_default("hidden_dim")
    num_layers: int = model_default("num_layers")
    num_heads: int = model_default("num_heads")
    intermediate_dim: int = model_default("intermediate_dim")
    dropout: float = model_default("dropout")
    attention_dropout: float = model_default("attention_dropout")
    input_dropout: float = model_default("input_dropout")
    base_temperature: float = model_default("base_temperature")
    negatives: str = model_default("negatives")
    num_negatives: int = model_default("num_negatives")
    precision: str = "float32"
    # text backbones (unisrec, morec)
    text_features: str = "minilm"
    pca_dim: int | None = None
    id_fusion: bool = False
    num_experts: int = 8
    adaptor_dropout: float | None = None
    projection_hidden_dim: int | None = None
    # hstu (default and range declared with the backbone, `rearec_keras.backbones`)
    time_buckets: int = backbones.declared_setting("time_buckets").default
    # training
    seed: int = 0
    epochs: int = 200
    batch_size: int = 1024
    learning_rate: float = 1e-3
    patience: int = 10
    monitor: str = "ndcg@20"
    ks: tuple = (10, 20)
    eval_batch_size: int = 512
    strategy: str = "default"
    # The learning methods' own settings (`kl_weight`, `noise_std`, ...),
    # read and written as flat attributes and keys; see the class docstring.
    method_settings: dict = dataclasses.field(default_factory=dict, repr=False)

    def __init__(self, **values):
        # The fields given (not defaulted): `for_method` keeps only these.
        object.__setattr__(self, "_given", frozenset(values) - {"method_settings"})
        registered = methods.all_settings()
        given = dict(values.pop("method_settings", None) or {})
        given.update({k: values.pop(k) for k in list(values) if k in registered})
        # A method's own defaults for the model settings not given (LARES:
        # reasoning_steps=4, base_temperature=1.0, ...).
        learning = values.get("learning", RunConfig.learning)
        method_defaults = (dict(methods.get_method(learning).model_defaults)
                           if learning in methods.method_names() else {})
        for field in dataclasses.fields(self):
            if field.name == "method_settings":
                continue
            if field.name in values:
                value = values.pop(field.name)
            elif field.name in method_defaults:
                value = method_defaults[field.name]
            elif field.default is not dataclasses.MISSING:
                value = field.default
            else:
                value = field.default_factory()
            object.__setattr__(self, field.name, value)
        unknown = sorted(set(values) | (set(given) - set(registered)))
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known settings: "
                              f"{', '.join(setting_names())}")
        object.__setattr__(self, "method_settings",
                           {name: given.get(name, s.default) for name, s in registered.items()})
        self.validate()

    def __getattr__(self, name):
        # Only reached when normal lookup fails: a method's setting.
        settings = self.__dict__.get("method_settings")
        if settings is not None and name in settings:
            return settings[name]
        raise AttributeError(f"RunConfig has no setting {name!r}")

    def __setattr__(self, name, value):
        settings = self.__dict__.get("method_settings")
        if settings is not None and name in settings:
            settings[name] = value
        else:
            object.__setattr__(self, name, value)

    @property
    def method(self):
        """The `Method` class of `learning`."""
        return methods.get_method(self.learning)

    @property
    def backbone_spec(self):
        """The registered `Backbone` of `backbone`."""
        return backbones.get_backbone(self.backbone)

    def ignored_settings(self) -> tuple:
        """Settings this config's backbone does not read (other backbones'
        own settings): a run directory may be resumed with other values."""
        spec = self.backbone_spec
        own = set(spec.setting_names)
        ignored = [] if spec.item_features else list(text_settings())
        ignored.extend(s for s in backbones.backbone_settings()
                       if s not in own and s not in ignored)
        return tuple(ignored)

    # ------------------------------------------------------------------
    def validate(self) -> "RunConfig":
        for key in ("backbone", "learning", *CHOICES):
            _choice(key, getattr(self, key), choices_of(key))
        for name, setting in methods.all_settings().items():
            if name not in self.method_settings:  # registered after this config was made
                self.method_settings[name] = setting.default
            self.method_settings[name] = config_check(setting.check, self.method_settings[name])
        if self.data_path is not None and not isinstance(self.data_path, (str, os.PathLike)):
            raise ConfigError(f"data_path must be a path string, got {self.data_path!r}")
        if self.data_path is not None:
            self.data_path = str(self.data_path)
        if self.dataset in ("recbole", "amazon", "yelp", "table") and not self.data_path:
            raise ConfigError(f"dataset={self.dataset!r} needs data_path (--data-path)")
        if not isinstance(self.dataset_options, dict):
            raise ConfigError(f"dataset_options must be a mapping, got {self.dataset_options!r}")
        if self.split == "predefined" and self.dataset != "amazon":
            raise ConfigError("split='predefined' needs a dataset with its own split (amazon)")
        for key, setting in MODEL_SETTINGS.items():  # the models' own checks
            setattr(self, key, config_check(setting.check, getattr(self, key)))
        for key, low in (
            ("seed", 0), ("epochs", 1), ("batch_size", 1), ("patience", 1),
            ("eval_batch_size", 1),
        ):
            _int(key, getattr(self, key), low)
        if self.k_core is not None:
            _int("k_core", self.k_core, 1)
        self._validate_text_settings()
        for key, setting in backbones.declared_settings().items():  # e.g. time_buckets
            setattr(self, key, config_check(setting.check, getattr(self, key)))
        if self.hidden_dim % self.num_heads:
            raise ConfigError(
                f"hidden_dim ({self.hidden_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        _float("learning_rate", self.learning_rate, 0.0, low_open=True)
        if self.rating_threshold is not None:
            _float("rating_threshold", self.rating_threshold)
        fractions = tuple(self.temporal_fractions)
        if len(fractions) != 2:
            raise ConfigError(f"temporal_fractions needs 2 values, got {self.temporal_fractions!r}")
        for f in fractions:
            _float("temporal_fractions", f, 0.0, 1.0, low_open=True, high_open=True)
        if not fractions[0] < fractions[1]:
            raise ConfigError(f"temporal_fractions must increase, got {fractions}")
        self.temporal_fractions = tuple(float(f) for f in fractions)
        ks = self.ks if isinstance(self.ks, (list, tuple)) else (self.ks,)
        if not ks:
            raise ConfigError("ks must name at least one cut-off")
        for k in ks:
            _int("ks", k, 1)
        self.ks = tuple(sorted(set(int(k) for k in ks)))
        metric, k = parse_metric(self.monitor)
        if k not in self.ks:
            self.ks = tuple(sorted(set(self.ks) | {k}))
        if not self.method.reasons:
            self.reasoning_steps = 0
        method = self.method
        config_check(method.check_model,
                     {name: self.method_settings[name] for name in method.setting_names()},
                     self.reasoning_steps, self.base_temperature)
        return self

    def _validate_text_settings(self):
        if isinstance(self.text_features, os.PathLike):
            self.text_features = os.fspath(self.text_features)
        if not isinstance(self.text_features, str) or not self.text_features:
            raise ConfigError(
                f"text_features must be {' or '.join(map(repr, TEXT_ENCODER_FEATURES))} or the "
                f"path of a .npy file, got {self.text_features!r}"
            )
        if (self.backbone_spec.item_features and self.text_features not in TEXT_ENCODER_FEATURES
                and _CHECK_PATHS.get()):
            path = Path(self.text_features).expanduser()
            if path.suffix.lower() != ".npy":
                raise ConfigError(
                    f"text_features must be {' or '.join(map(repr, TEXT_ENCODER_FEATURES))} or "
                    f"the path of a .npy file [num_items, F], got {self.text_features!r}"
                )
            if not path.is_file():
                raise ConfigError(f"text_features file not found: {self.text_features}")
        if self.pca_dim is not None:
            _int("pca_dim", self.pca_dim, 1)
        if not isinstance(self.id_fusion, bool):
            raise ConfigError(f"id_fusion must be true or false, got {self.id_fusion!r}")
        _int("num_experts", self.num_experts, 1)
        if self.adaptor_dropout is not None:
            self.adaptor_dropout = _float("adaptor_dropout", self.adaptor_dropout, 0.0, 1.0,
                                          high_open=True)
        if self.projection_hidden_dim is not None:
            _int("projection_hidden_dim", self.projection_hidden_dim, 1)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(out.pop("method_settings"))
        out["temporal_fractions"] = list(self.temporal_fractions)
        out["ks"] = list(self.ks)
        return out

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "RunConfig":
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got {type(values).__name__}")
        names = set(setting_names())
        values = {str(k).replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; known settings: "
                f"{', '.join(sorted(names))}"
            )
        try:
            return cls(**values)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    @staticmethod
    def with_defaults(values: dict) -> dict:
        """A saved settings dict completed with the defaults of settings
        added to `RunConfig` since it was written (old runs stay resumable)."""
        return {**RunConfig().to_dict(), **values}

    def replace(self, **changes) -> "RunConfig":
        values = self.to_dict()
        values.update(changes)
        return RunConfig.from_dict(values)

    def for_method(self, learning, **changes) -> "RunConfig":
        """This config with another learning method (and `changes`). The
        model settings this config took from its method's defaults take the
        new method's instead (`RunConfig()` is ERL at K=2; its
        `for_method("lares")` is LARES at LARES' K=4, τ=1, dropout 0.5); the
        settings it was given keep their values. `replace(learning=...)`
        keeps every value as it is."""
        values = self.to_dict()
        defaulted = set(self.method.model_defaults)
        if learning in methods.method_names():
            defaulted |= set(methods.get_method(learning).model_defaults)
        for name in defaulted - self._given:
            values.pop(name, None)
        values.update(changes, learning=learning)
        config = RunConfig.from_dict(values)
        object.__setattr__(config, "_given", self._given | set(changes) | {"learning"})
        return config

    def save(self, path) -> None:
        """Writes the settings as JSON (aside, then renamed)."""
        from rearec_keras.utils.files import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def describe(self, steps=True) -> str:
        """Short model name, e.g. `SASRec+PRL (K=2)`, `BERT4Rec` or
        `UniSRec+ERL (K=2)`; with `steps=False` without K (`SASRec+PRL`)."""
        name = self.backbone_spec.title
        if not self.method.reasons:
            return name
        name = f"{name}+{self.method.display_name()}"
        return f"{name} (K={self.reasoning_steps})" if steps else name


def setting_names() -> list:
    """Every `RunConfig` key: its fields, then the registered methods'
    settings."""
    fields = [f.name for f in dataclasses.fields(RunConfig) if f.name != "method_settings"]
    return fields + list(methods.all_settings())


def setting_default(name):
    """The default value of a setting."""
    setting = methods.all_settings().get(name)
    if setting is not None:
        return setting.default
    field = {f.name: f for f in dataclasses.fields(RunConfig)}[name]
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def setting_doc(name) -> str | None:
    """The one-line description of a model or method setting (None for the
    others)."""
    if name in MODEL_SETTINGS:
        return MODEL_SETTINGS[name].describe()
    declared = backbones.declared_settings().get(name)
    if declared is not None:
        return f"[{'/'.join(backbones.backbones_using(name))}] {declared.describe()}"
    setting = methods.all_settings().get(name)
    if setting is None:
        return None
    return f"[{'/'.join(methods.methods_using(name))}] {setting.describe()}"


def scalar_type(name):
    """`int`, `float`, `str` or `bool` for a scalar setting (optional ones
    included), or None for the others (`dataset_options`,
    `temporal_fractions`, `ks`)."""
    setting = methods.all_settings().get(name)
    if setting is not None:
        return setting.kind
    annotation = {f.name: f.type for f in dataclasses.fields(RunConfig)}[name]
    if isinstance(annotation, types.UnionType):
        annotation = next(a for a in annotation.__args__ if a is not type(None))
    return annotation if annotation in (int, float, str, bool) else None


def is_optional(name) -> bool:
    """Whether a setting may be None (`k_core`, `pca_dim`, ...)."""
    setting = methods.all_settings().get(name)
    if setting is not None:
        return setting.optional
    annotation = {f.name: f.type for f in dataclasses.fields(RunConfig)}[name]
    return isinstance(annotation, types.UnionType) and type(None) in annotation.__args__


def parse_metric(name) -> tuple[str, int]:
    """`"ndcg@20"` -> `("ndcg", 20)`, with a clear error otherwise."""
    text = str(name)
    metric, sep, k = text.partition("@")
    if not sep or metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise ConfigError(
            f"monitor must look like 'ndcg@20' (metrics: {', '.join(METRICS)}), got {name!r}"
        )
    return metric, int(k)


def read_config_file(path) -> dict:
    """Reads a JSON (`.json`), YAML (`.yaml`/`.yml`) or TOML (`.toml`) file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text file") from None
    empty = ConfigError(
        f"config file {path} sets no settings (it is empty); write the settings to change "
        "(e.g. `learning: erl`), or leave out --config to run with the defaults"
    )
    if not text.strip():
        raise empty
    try:
        if suffix == ".json":
            values = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        elif suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            values = tomllib.loads(text)
        else:
            raise ConfigError(
                f"config file {path}: unknown format {suffix!r} (use .json, .yaml, .yml or .toml)"
            )
    except ConfigError:
        raise
    except Exception as e:  # parser errors of the three formats
        raise ConfigError(f"config file {path} is not valid {suffix[1:].upper()}: {e}") from None
    if values is None or values == {}:  # e.g. only comments
        raise empty
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings at the top level")
    return values


def load_config(path=None, preset=None, **overrides) -> RunConfig:
    """A `RunConfig` from an optional preset (`presets.PRESETS`), then an
    optional file (which may name a `preset` itself), then keyword
    overrides; each overrides the one before."""
    from rearec_keras.experiments.presets import preset_settings

    values = read_config_file(path) if path is not None else {}
    source = str(path) if path is not None else "config"
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    file_preset = values.pop("preset", None)
    if preset is not None and file_preset is not None and preset != file_preset:
        raise ConfigError(f"--preset {preset} and {source}'s preset: {file_preset} disagree; "
                          "give one")
    preset = preset if preset is not None else file_preset
    merged = config_check(preset_settings, preset) if preset is not None else {}
    merged.update(values)
    merged.update(overrides)
    return RunConfig.from_dict(merged, source=source)


# ----------------------------------------------------------------------
# The library's argument checks, reported as ConfigError ("`kl_weight` must
# be >= 0.0. Received: kl_weight=-1.0").


def config_check(check, *args, **kwargs):
    """Runs a `utils.validation` check, reporting its error as `ConfigError`."""
    try:
        return check(*args, **kwargs)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _choice(key, value, choices):
    return config_check(check_choice, key, value, choices)


def _int(key, value, low):
    return config_check(check_int, key, value, low)


def _float(key, value, low=None, high=None, low_open=False, high_open=False):
    return config_check(check_float, key, value, low, exclusive_minimum=low_open,
                    maximum=high, exclusive_maximum=high_open)
