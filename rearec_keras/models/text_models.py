"""The text backbones, re-exported (each lives in its own module:
`rea_text_model`, `rea_unisrec`, `rea_morec`)."""

from rearec_keras.models.rea_morec import MoRec  # noqa: F401
from rearec_keras.models.rea_morec import ReaMoRec  # noqa: F401
from rearec_keras.models.rea_text_model import ReaTextRecModel  # noqa: F401
from rearec_keras.models.rea_unisrec import ReaUniSRec  # noqa: F401
from rearec_keras.models.rea_unisrec import UniSRec  # noqa: F401
