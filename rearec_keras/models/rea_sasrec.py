"""SASRec backbone (causal self-attention) with and without latent reasoning."""

import keras

from rearec_keras.models.rearec_model import ReaRecModel


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaSASRec(ReaRecModel):
    """ReaRec on SASRec: causal attention over the items.

    Every argument is documented on `ReaRecModel`. Defaults: K=2, PRL.

    Example:

    ```python
    model = ReaSASRec(num_items=1682, reasoning_steps=2, learning="erl", kl_weight=0.01)
    ```

    Reference: Kang & McAuley, "Self-Attentive Sequential Recommendation"
    (ICDM 2018); Tang et al., arXiv:2503.22675.
    """

    attention_mode = "causal"


def _base_kwargs(kwargs, name):
    """The keyword arguments of a base model: `learning="base"`, K = 0.

    Files saved before the `base` method existed say `learning="rpe"` (any
    method is the base model at K = 0); they load as `"base"`.
    """
    steps = kwargs.pop("reasoning_steps", 0)
    if steps != 0:
        raise ValueError(
            f"{name} is the base model without reasoning (reasoning_steps=0); got "
            f"reasoning_steps={steps}. Use Rea{name} for K > 0."
        )
    kwargs["learning"] = "base"
    return kwargs


@keras.saving.register_keras_serializable(package="rearec_keras")
class SASRec(ReaSASRec):
    """The base SASRec: `ReaSASRec` with `reasoning_steps=0`.

    Trained, as in the ReaRec code, with cross-entropy on the last position
    over the full catalog at temperature `base_temperature`.
    """

    def __init__(self, num_items, **kwargs):
        super().__init__(num_items, reasoning_steps=0, **_base_kwargs(kwargs, "SASRec"))
