"""Tiny exported models shared by the serving tests.

Each model is exported once per session and read back in a new Python
process that imports TensorFlow alone (`serving_helpers.reload_fresh`).
"""

import pytest

from serving_helpers import KS
from serving_helpers import make_histories
from serving_helpers import make_model
from serving_helpers import reload_fresh


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """Exports of K=0, K=2 ERL and K=2 PRL models, reloaded in a fresh
    process: `{"models", "exports", "histories", "reloaded"}`."""
    import keras

    from rearec_keras.serving import export_serving

    root = tmp_path_factory.mktemp("exports")
    histories = make_histories()
    models = {
        "base": make_model(reasoning_steps=0, seed=1),
        "erl": make_model("erl", seed=2),
        "prl": make_model("prl", seed=3),
        # Text backbones: the exported item table is the adapted text table.
        "unisrec": make_model("prl", seed=5, text="unisrec"),
        "morec": make_model("erl", seed=6, text="morec"),
    }
    # Every item vector equal: all scores tie, so the order is the tie rule.
    ties = make_model("prl", seed=4)
    table = keras.ops.convert_to_numpy(ties.item_embedding.embeddings).copy()
    table[2:] = table[1]
    ties.item_embedding.embeddings.assign(table)
    models["ties"] = ties
    exports = {}
    for name, model in models.items():
        exports[name] = root / name
        export_serving(model, exports[name])
    jobs = [{"name": name, "path": str(path), "kind": "export", "histories": histories.tolist(),
             "ks": list(KS)} for name, path in exports.items()]
    reloaded = reload_fresh(jobs, tmp_path_factory.mktemp("reload"))
    return {"models": models, "exports": exports, "histories": histories, "reloaded": reloaded}
