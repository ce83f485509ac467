"""The settings every model of the zoo takes, described once.

`ReaRecModel`'s signature defaults and checks and `RunConfig`'s fields and
validation read these (the learning methods' own settings live with each
method, in `rearec_keras.methods`). No Keras import.
"""

from rearec_keras.methods.setting import Setting
from rearec_keras.utils.choices import NEGATIVES

MODEL_SETTINGS = {s.name: s for s in (
    Setting("max_length", 50, "longest history the model reads (paper: 50)", symbol="L",
            minimum=1),
    Setting("hidden_dim", 64, "embedding and hidden size (paper: 256)", symbol="d", minimum=1),
    Setting("num_layers", 2, "transformer blocks", minimum=1),
    Setting("num_heads", 2, "attention heads (must divide hidden_dim)", minimum=1),
    Setting("intermediate_dim", 300, "feed-forward size of a block", minimum=1),
    Setting("dropout", 0.5, "dropout in the blocks", minimum=0.0, maximum=1.0,
            exclusive_maximum=True),
    Setting("attention_dropout", 0.5, "dropout of the attention probabilities", minimum=0.0,
            maximum=1.0, exclusive_maximum=True),
    Setting("input_dropout", 0.2, "dropout after the input LayerNorm at every step",
            minimum=0.0, maximum=1.0, exclusive_maximum=True),
    Setting("reasoning_steps", 2, "extra latent reasoning steps", symbol="K", minimum=0),
    Setting("base_temperature", 0.07, "temperature dividing every logit", symbol="τ",
            minimum=0.0, exclusive_minimum=True),
    Setting("negatives", "full", "'full' softmax over the catalog, or sampled candidates",
            choices=NEGATIVES),
    Setting("num_negatives", 1024, "sampled negatives per batch", symbol="M", minimum=1),
)}


def default(name):
    """The default value of a model setting."""
    return MODEL_SETTINGS[name].default


def check_model_settings(**values):
    """Checks each given model setting (`ValueError` naming it) and that
    `num_heads` divides `hidden_dim`; returns the checked values."""
    out = {name: MODEL_SETTINGS[name].check(value) for name, value in values.items()}
    hidden, heads = out.get("hidden_dim"), out.get("num_heads")
    if hidden is not None and heads is not None and hidden % heads:
        raise ValueError(f"`hidden_dim` ({hidden}) must be divisible by `num_heads` ({heads}).")
    return out
