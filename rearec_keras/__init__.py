"""rearec_keras: reasoning-enhanced sequential recommendation in Keras 3.

`import rearec_keras` is cheap: it imports neither TensorFlow nor Keras and
never touches the network. Submodules and the public names below load on
first use (PEP 562).

Submodules:
    datasets: real datasets (MovieLens, RecBole atomic, Amazon Reviews 2023,
        Yelp, any CSV/Parquet) as one `InteractionDataset` type.
    data: preprocessing (rating threshold, k-core, duplicates, id
        remapping), splits (leave-one-out, temporal) and input pipelines.
    evaluation: full-ranking evaluation (NDCG/Recall/MRR@K) and a Keras
        callback that logs validation metrics each epoch.
    methods: the learning methods (base, rpe, naive, erl, prl) as
        registered plug-ins; `backbones`: the backbone registry.
    reasoners: the reasoner contract and ReaRec's `RecurrentReasoning`.
    training: the fit loop, strategy handling and callbacks (phases, early
        stopping with resumable state).
    layers: reusable Keras parts (cached transformer, reasoning loop, ...).
    losses: ReaRec losses (multi-step CE, ERL diversity, PRL contrastive).
    models: `SASRec`, `BERT4Rec`, `HSTU`, `ReaSASRec`, `ReaBERT4Rec`,
        `ReaHSTU`; text backbones `UniSRec`, `MoRec`, `ReaUniSRec`,
        `ReaMoRec`; `LARES`; `DTRec`.
    text: item text in the ReaRec template, a pretrained text encoder
        (all-MiniLM-L6-v2 in keras-hub) and cached item features.
    experiments: run configs, reproducible run directories, comparisons
        and the paper's analyses (what the `rearec-keras` command uses).
    tuning: KerasTuner hypermodels and studies over λ, τ, α and K.
"""

import importlib

from rearec_keras.version import __version__

_SUBMODULES = (
    "backbones", "data", "datasets", "evaluation", "experiments", "layers", "losses", "methods",
    "models", "reasoners", "serving", "text", "training", "tuning",
)

# Public name -> module that defines it.
_LAZY = {
    "evaluate": "rearec_keras.evaluation",
    "compute_ranks": "rearec_keras.evaluation",
    "RankingEvaluationCallback": "rearec_keras.evaluation",
    "InteractionDataset": "rearec_keras.datasets",
    "load_movielens": "rearec_keras.datasets",
    "ReaRecModel": "rearec_keras.models",
    "LARES": "rearec_keras.models",
    "DTRec": "rearec_keras.models",
    "ReaSASRec": "rearec_keras.models",
    "ReaBERT4Rec": "rearec_keras.models",
    "SASRec": "rearec_keras.models",
    "BERT4Rec": "rearec_keras.models",
    "ReaHSTU": "rearec_keras.models",
    "HSTU": "rearec_keras.models",
    "ReaUniSRec": "rearec_keras.models",
    "ReaMoRec": "rearec_keras.models",
    "UniSRec": "rearec_keras.models",
    "MoRec": "rearec_keras.models",
    "ReaSASRecHyperModel": "rearec_keras.tuning",
    "ReaBERT4RecHyperModel": "rearec_keras.tuning",
    "ReaHSTUHyperModel": "rearec_keras.tuning",
}

__all__ = ["__version__", *_SUBMODULES, *_LAZY]


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"rearec_keras.{name}")
    elif name in _LAZY:
        module = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'rearec_keras' has no attribute {name!r}")
    globals()[name] = module
    return module


def __dir__():
    return sorted(set(globals()) | set(__all__))
