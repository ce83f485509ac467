"""Preprocessing, splits and input pipelines (numpy/pandas; TensorFlow only
inside `SplitPart.as_dataset`)."""

from rearec_keras.data.cold_start import hold_out_items
from rearec_keras.data.cold_start import items_by_train_count
from rearec_keras.data.preprocessing import drop_duplicates
from rearec_keras.data.preprocessing import filter_ratings
from rearec_keras.data.preprocessing import index_ids
from rearec_keras.data.preprocessing import k_core
from rearec_keras.data.preprocessing import preprocess
from rearec_keras.data.preprocessing import sort_chronologically
from rearec_keras.data.splits import TIMESTAMP_PADDING
from rearec_keras.data.splits import Split
from rearec_keras.data.splits import SplitPart
from rearec_keras.data.splits import leave_one_out
from rearec_keras.data.splits import left_pad_timestamps
from rearec_keras.data.splits import left_padded_windows
from rearec_keras.data.splits import predefined_split
from rearec_keras.data.splits import relative_timestamps
from rearec_keras.data.splits import temporal_split
from rearec_keras.data.vocabulary import Vocabulary

__all__ = [
    "TIMESTAMP_PADDING",
    "Split",
    "SplitPart",
    "Vocabulary",
    "drop_duplicates",
    "filter_ratings",
    "hold_out_items",
    "index_ids",
    "items_by_train_count",
    "k_core",
    "leave_one_out",
    "left_pad_timestamps",
    "left_padded_windows",
    "predefined_split",
    "preprocess",
    "relative_timestamps",
    "sort_chronologically",
    "temporal_split",
]
