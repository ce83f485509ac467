"""The registry of backbones: name -> model classes and their own settings.

The runner, tuning, the benchmarks and the command line read the backbones
from here (no other table of names exists). The model classes are named by
import path and loaded on use (importing this module imports no model; the
settings it declares are `rearec_keras.methods.Setting`s).

    from rearec_keras import backbones
    backbones.backbone_names()                 # ('sasrec', 'bert4rec', ...)
    backbones.get_backbone("unisrec").model_class(reasoning=True)   # ReaUniSRec
"""

from __future__ import annotations

import dataclasses
import importlib

from rearec_keras.methods.setting import Setting

_BACKBONES: dict = {}


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A backbone of the zoo.

    Args:
        name: registry key (`--backbone NAME`).
        title: display name (`"SASRec"`).
        base_class / reasoning_class: `"module:Class"` of the model without
            reasoning (K = 0) and with it.
        settings: `RunConfig` settings passed to its constructor beyond the
            ones every model takes: names of `RunConfig` fields (e.g.
            `num_experts` for UniSRec) or `Setting`s declared here, with
            their default and range (e.g. HSTU's `time_buckets`), which
            `RunConfig` adds as fields and checks and the command line
            offers as flags.
        item_features: it represents items by frozen features (text
            backbones): the runner computes `text_features` for it.
        description: one line for the docs.
    """

    name: str
    title: str
    base_class: str
    reasoning_class: str
    settings: tuple = ()
    item_features: bool = False
    description: str = ""

    @property
    def setting_names(self) -> tuple:
        """The names of `settings`."""
        return tuple(s if isinstance(s, str) else s.name for s in self.settings)

    def model_class(self, reasoning: bool = True):
        """The Keras model class (imports it)."""
        path = self.reasoning_class if reasoning else self.base_class
        module, _, name = path.partition(":")
        return getattr(importlib.import_module(module), name)


def register_backbone(backbone: Backbone) -> Backbone:
    if not isinstance(backbone, Backbone):
        raise TypeError(f"register_backbone takes a Backbone, got {backbone!r}")
    if backbone.name in _BACKBONES and _BACKBONES[backbone.name] != backbone:
        raise ValueError(f"a backbone named {backbone.name!r} is already registered")
    _BACKBONES[backbone.name] = backbone
    return backbone


def unregister_backbone(name: str):
    _BACKBONES.pop(name, None)


def get_backbone(name: str) -> Backbone:
    try:
        return _BACKBONES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"`backbone` must be one of {list(_BACKBONES)}. Received: backbone={name!r}"
        ) from None


def backbone_names() -> tuple:
    return tuple(_BACKBONES)


def feature_backbones() -> tuple:
    """Names of the backbones that need item features (text backbones)."""
    return tuple(n for n, b in _BACKBONES.items() if b.item_features)


def backbone_settings() -> tuple:
    """Every backbone-specific setting name (what the others ignore)."""
    out = []
    for b in _BACKBONES.values():
        out.extend(s for s in b.setting_names if s not in out)
    return tuple(out)


def declared_settings() -> dict:
    """`{name: Setting}` of the settings the backbones declare themselves
    (default, range and meaning in one place), e.g. HSTU's `time_buckets`."""
    out = {}
    for b in _BACKBONES.values():
        for s in b.settings:
            if not isinstance(s, str):
                out.setdefault(s.name, s)
    return out


def declared_setting(name):
    """The `Setting` a backbone declares under `name` (`KeyError` if none)."""
    return declared_settings()[name]


def backbones_using(name) -> tuple:
    """The backbones whose constructors take setting `name`."""
    return tuple(n for n, b in _BACKBONES.items() if name in b.setting_names)


# HSTU's relative time bias: log-bucketed gaps between the history items'
# timestamps (released code: 128 buckets); 0 builds none. With > 0 the data
# pipeline, evaluation and serving feed the items' timestamps.
HSTU_TIME_BUCKETS = Setting(
    "time_buckets", 0, "HSTU's relative time bias: buckets of the log time gap between "
    "history items (released code 128; 0: no time bias, the data's timestamps unused)",
    minimum=0)


register_backbone(Backbone(
    "sasrec", "SASRec", "rearec_keras.models:SASRec", "rearec_keras.models:ReaSASRec",
    description="causal self-attention over item ids (Kang & McAuley 2018)"))
register_backbone(Backbone(
    "bert4rec", "BERT4Rec", "rearec_keras.models:BERT4Rec", "rearec_keras.models:ReaBERT4Rec",
    description="bidirectional attention over item ids, prefix mask for the reasoning steps"))
register_backbone(Backbone(
    "hstu", "HSTU", "rearec_keras.models:HSTU", "rearec_keras.models:ReaHSTU",
    settings=(HSTU_TIME_BUCKETS,),
    description="pointwise aggregated, gated attention with a relative position bias "
                "(Zhai et al. 2024)"))
register_backbone(Backbone(
    "unisrec", "UniSRec", "rearec_keras.models:UniSRec", "rearec_keras.models:ReaUniSRec",
    settings=("id_fusion", "adaptor_dropout", "num_experts"), item_features=True,
    description="frozen item text through a mixture of whitening experts (Hou et al. 2022)"))
register_backbone(Backbone(
    "morec", "MoRec", "rearec_keras.models:MoRec", "rearec_keras.models:ReaMoRec",
    settings=("id_fusion", "adaptor_dropout", "projection_hidden_dim"), item_features=True,
    description="frozen item text through a trainable projection (Yuan et al. 2023)"))
