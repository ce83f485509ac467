"""Serving: a trained model as a TensorFlow SavedModel, and a TFRS index.

`export_serving(model, path)` writes a SavedModel with the endpoints
`encode` (user vectors), `top_k` and `top_k_unseen` (best items, padding
never returned) and `item_vectors`, plus a `serving.json` that describes
it; `load_serving(path)` reads one back with numpy in / numpy out and
needs neither Keras nor this package's models. `build_tfrs_index` turns an
export into a TensorFlow Recommenders `BruteForce` or `Streaming` index in
a process of its own (TFRS needs legacy Keras, `TF_USE_LEGACY_KERAS=1`).

Importing this package imports neither TensorFlow nor Keras: the names
below load on first use, so `python -m rearec_keras.serving.tfrs_index`
can still set the legacy-Keras flag before TensorFlow starts.
"""

import importlib

_LAZY = {
    "ExportError": "rearec_keras.serving.export",
    "ServingModel": "rearec_keras.serving.export",
    "export_serving": "rearec_keras.serving.export",
    "load_serving": "rearec_keras.serving.export",
    "build_tfrs_index": "rearec_keras.serving.tfrs_index",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'rearec_keras.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
