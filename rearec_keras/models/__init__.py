"""ReaRec models: SASRec / BERT4Rec backbones with latent reasoning."""

from rearec_keras.models.rea_bert4rec import BERT4Rec
from rearec_keras.models.rea_bert4rec import ReaBERT4Rec
from rearec_keras.models.rea_sasrec import ReaSASRec
from rearec_keras.models.rea_sasrec import SASRec
from rearec_keras.models.rearec_model import ReaRecModel
from rearec_keras.models.rearec_model import ReasoningNoiseSchedule

__all__ = [
    "BERT4Rec",
    "ReaBERT4Rec",
    "ReaRecModel",
    "ReaSASRec",
    "ReasoningNoiseSchedule",
    "SASRec",
]
