"""Keras layers of ReaRec: embeddings, masks, cached Transformer and HSTU, reasoning loop."""

from rearec_keras.layers.hstu_block import HSTUBlock
from rearec_keras.layers.hstu_encoder import HSTUEncoder
from rearec_keras.layers.masks import full_attention_mask
from rearec_keras.layers.masks import item_attention_mask
from rearec_keras.layers.masks import reasoning_step_mask
from rearec_keras.layers.negative_sampling import NegativeSampler
from rearec_keras.layers.position_embedding import LeftPaddedPositionEmbedding
from rearec_keras.layers.reasoner import Reasoner
from rearec_keras.layers.reasoning_position_embedding import (
    ReasoningPositionEmbedding,
)
from rearec_keras.layers.recurrent_reasoning import RecurrentReasoning
from rearec_keras.layers.relative_attention_bias import RelativeAttentionBias
from rearec_keras.layers.transformer_block import TransformerBlock
from rearec_keras.layers.transformer_block import merge_cache
from rearec_keras.layers.feature_projection import FeatureProjection
from rearec_keras.layers.item_feature_table import ItemFeatureTable
from rearec_keras.layers.moe_adaptor import MoEAdaptor
from rearec_keras.layers.parametric_whitening import ParametricWhitening
from rearec_keras.layers.transformer_encoder import TransformerEncoder

__all__ = [
    "FeatureProjection",
    "HSTUBlock",
    "HSTUEncoder",
    "ItemFeatureTable",
    "LeftPaddedPositionEmbedding",
    "MoEAdaptor",
    "NegativeSampler",
    "ParametricWhitening",
    "Reasoner",
    "ReasoningPositionEmbedding",
    "RecurrentReasoning",
    "RelativeAttentionBias",
    "TransformerBlock",
    "TransformerEncoder",
    "full_attention_mask",
    "item_attention_mask",
    "merge_cache",
    "reasoning_step_mask",
]
