"""UniSRec backbone (mixture of whitening experts over frozen item text),
with and without latent reasoning.

Reference: Hou et al., "Towards Universal Sequence Representation Learning
for Recommender Systems" (KDD 2022); Tang et al., arXiv:2503.22675.
"""

import keras

from rearec_keras.layers.moe_adaptor import MoEAdaptor
from rearec_keras.models.rea_sasrec import _base_kwargs
from rearec_keras.models.rea_text_model import ReaTextRecModel
from rearec_keras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaUniSRec(ReaTextRecModel):
    """ReaRec on UniSRec: a MoE adaptor of whitened text features.

    Items are `Σ_k g_k(x) W_k (x − b_k)` of their frozen text features `x`
    (parametric whitening experts with a softmax gate), fed to the SASRec
    encoder and scored against the same adapted table. Every `ReaRecModel`
    and `ReaTextRecModel` argument applies, plus:

    Args:
        num_experts: whitening experts (UniSRec: 8).
        gate_noise: noisy gating in training (UniSRec's default, True).

    Example:

    ```python
    from rearec_keras.text import item_text_features
    features = item_text_features(split)            # [1682, 384], cached
    model = ReaUniSRec(split.num_items, item_features=features, learning="erl")
    ```
    """

    attention_mode = "causal"

    def __init__(self, num_items=None, item_features=None, num_experts=8, gate_noise=True,
                 **kwargs):
        # Set before the base constructor, which builds the adaptor.
        self.num_experts = check_int("num_experts", num_experts, 1)
        self.gate_noise = bool(gate_noise)
        super().__init__(num_items, item_features, **kwargs)

    def _make_adaptor(self):
        return MoEAdaptor(
            self.hidden_dim, num_experts=self.num_experts, dropout=self.adaptor_dropout,
            gate_noise=self.gate_noise, name="moe_adaptor",
        )

    def get_config(self):
        config = super().get_config()
        config.update({"num_experts": self.num_experts, "gate_noise": self.gate_noise})
        return config


@keras.saving.register_keras_serializable(package="rearec_keras")
class UniSRec(ReaUniSRec):
    """The base UniSRec: `ReaUniSRec` with `reasoning_steps=0`."""

    def __init__(self, num_items=None, item_features=None, **kwargs):
        super().__init__(num_items, item_features, reasoning_steps=0,
                         **_base_kwargs(kwargs, "UniSRec"))
