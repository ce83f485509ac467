"""MoRec backbone (a trainable projection of frozen item text), with and
without latent reasoning.

Reference: Yuan et al., "Where to Go Next for Recommender Systems? ID- vs.
Modality-based Recommender Models Revisited" (SIGIR 2023).
"""

import keras

from rearec_keras.models.rea_sasrec import _base_kwargs
from rearec_keras.models.rea_text_model import ReaTextRecModel
from rearec_keras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaMoRec(ReaTextRecModel):
    """ReaRec on MoRec: frozen text features through a trainable projection.

    Items are `x W + c` of their frozen text features `x` (one dense layer;
    `projection_hidden_dim` makes it a two-layer GeLU MLP), fed to the
    SASRec encoder and scored against the same projected table.

    Args:
        projection_hidden_dim: optional hidden size of the projection MLP.
    """

    attention_mode = "causal"
    default_adaptor_dropout = 0.0

    def __init__(self, num_items=None, item_features=None, projection_hidden_dim=None,
                 **kwargs):
        # Set before the base constructor, which builds the adaptor.
        self.projection_hidden_dim = (
            None if projection_hidden_dim is None
            else check_int("projection_hidden_dim", projection_hidden_dim, 1)
        )
        super().__init__(num_items, item_features, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["projection_hidden_dim"] = self.projection_hidden_dim
        return config


@keras.saving.register_keras_serializable(package="rearec_keras")
class MoRec(ReaMoRec):
    """The base MoRec: `ReaMoRec` with `reasoning_steps=0`."""

    def __init__(self, num_items=None, item_features=None, **kwargs):
        super().__init__(num_items, item_features, reasoning_steps=0,
                         **_base_kwargs(kwargs, "MoRec"))
