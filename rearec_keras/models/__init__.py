"""ReaRec models: SASRec / BERT4Rec / HSTU / UniSRec / MoRec backbones with latent reasoning,
and LARES' depth-recurrent model."""

from rearec_keras.models.dtrec import DTRec
from rearec_keras.models.lares import LARES
from rearec_keras.models.rea_bert4rec import BERT4Rec
from rearec_keras.models.rea_bert4rec import ReaBERT4Rec
from rearec_keras.models.rea_hstu import HSTU
from rearec_keras.models.rea_hstu import ReaHSTU
from rearec_keras.models.rea_sasrec import ReaSASRec
from rearec_keras.models.rea_sasrec import SASRec
from rearec_keras.models.rearec_model import ReaRecModel
from rearec_keras.models.recommender import SequentialRecommender
from rearec_keras.training.callbacks import PhaseSchedule
from rearec_keras.training.callbacks import ReasoningNoiseSchedule
from rearec_keras.models.rea_morec import MoRec
from rearec_keras.models.rea_morec import ReaMoRec
from rearec_keras.models.rea_text_model import ReaTextRecModel
from rearec_keras.models.rea_unisrec import ReaUniSRec
from rearec_keras.models.rea_unisrec import UniSRec

__all__ = [
    "BERT4Rec",
    "DTRec",
    "HSTU",
    "LARES",
    "MoRec",
    "ReaBERT4Rec",
    "ReaHSTU",
    "PhaseSchedule",
    "ReaMoRec",
    "ReaRecModel",
    "ReaSASRec",
    "ReaTextRecModel",
    "ReaUniSRec",
    "ReasoningNoiseSchedule",
    "SASRec",
    "SequentialRecommender",
    "UniSRec",
]
