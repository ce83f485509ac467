"""Item representations from frozen text features (UniSRec, MoRec).

Text-based recommenders represent an item by a language model's encoding of
its text instead of (or besides) a learned id embedding. The features are
frozen; a small trainable adaptor maps them to the recommender's hidden size:

* `ItemFeatureTable`: the frozen `[num_items + 1, F]` feature matrix as a
  non-trainable weight (row 0, the padding item, is zero), saved with the
  model.
* `ParametricWhitening`: UniSRec's `W (x − b)`, a learned translation
  followed by a linear map (Hou et al., 2022, Eq. 2).
* `MoEAdaptor`: UniSRec's mixture of parametric-whitening experts with a
  softmax gate over the raw features (Eq. 3).
* `FeatureProjection`: MoRec's trainable projection of frozen modality
  features (one dense layer, optionally preceded by a hidden layer).

Each lives in its own module; this one re-exports them.
"""


from rearec_keras.layers.feature_projection import FeatureProjection  # noqa: F401
from rearec_keras.layers.item_feature_table import ItemFeatureTable  # noqa: F401
from rearec_keras.layers.item_feature_table import check_item_features  # noqa: F401
from rearec_keras.layers.moe_adaptor import MoEAdaptor  # noqa: F401
from rearec_keras.layers.parametric_whitening import ParametricWhitening  # noqa: F401
