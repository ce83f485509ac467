"""Real interaction datasets, all returned as one `InteractionDataset` type.

Loaders: `load_movielens` (ml-100k, ml-1m), `load_recbole_atomic`,
`load_amazon_reviews_2023`, `load_yelp`, and `load_interactions` for any
CSV/Parquet file or DataFrame with a column mapping.
"""

from rearec_keras.datasets.amazon import load_amazon_reviews_2023
from rearec_keras.datasets.dataset import InteractionDataset
from rearec_keras.datasets.dataset import ProcessingStep
from rearec_keras.datasets.movielens import DatasetNotFoundError
from rearec_keras.datasets.movielens import load_movielens
from rearec_keras.datasets.movielens import locate_movielens
from rearec_keras.datasets.recbole_atomic import load_recbole_atomic
from rearec_keras.datasets.recbole_atomic import read_atomic_file
from rearec_keras.datasets.tabular import load_interactions
from rearec_keras.datasets.validation import DataError
from rearec_keras.datasets.yelp import load_yelp

__all__ = [
    "DataError",
    "DatasetNotFoundError",
    "InteractionDataset",
    "ProcessingStep",
    "load_amazon_reviews_2023",
    "load_interactions",
    "load_movielens",
    "load_recbole_atomic",
    "locate_movielens",
    "read_atomic_file",
    "load_yelp",
]
