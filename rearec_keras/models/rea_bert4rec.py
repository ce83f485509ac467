"""BERT4Rec backbone (bidirectional item attention) with latent reasoning."""

import keras

from rearec_keras.models.rea_sasrec import _base_kwargs
from rearec_keras.models.rearec_model import ReaRecModel


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaBERT4Rec(ReaRecModel):
    """ReaRec on BERT4Rec: a prefix mask.

    Items attend to each other bidirectionally (padding masked); each
    reasoning slot attends to every item and to earlier reasoning slots;
    items never see reasoning slots. As in the ReaRec paper (our
    choice where it is silent) there is no cloze objective: `r_0` is the
    output at the newest item and the loss is next-item cross-entropy (the
    target is never in the input, so nothing leaks).

    Reference: Sun et al., "BERT4Rec" (CIKM 2019); Tang et al.,
    arXiv:2503.22675.
    """

    attention_mode = "bidirectional"


@keras.saving.register_keras_serializable(package="rearec_keras")
class BERT4Rec(ReaBERT4Rec):
    """The base BERT4Rec: `ReaBERT4Rec` with `reasoning_steps=0`."""

    def __init__(self, num_items, **kwargs):
        super().__init__(num_items, reasoning_steps=0, **_base_kwargs(kwargs, "BERT4Rec"))
