"""Hyperparameter search with KerasTuner over λ, τ, α and K.

- `ReaSASRecHyperModel`, `ReaBERT4RecHyperModel`, `ReaHSTUHyperModel`
  (`ReaRecHyperModel`): the model families as KerasTuner hypermodels, the
  paper's grids by default;
- `SearchSpace`, `paper_search_space`: search spaces as data, validated;
- `make_tuner`: grid, random, Bayesian or Hyperband search;
- `run_study`: a resumable study with a trials CSV, sensitivity plots
  (the paper's Fig. 6), the best model and the gain over the defaults
  (what `rearec-keras tune` runs).
"""

from rearec_keras.tuning.hypermodel import ReaBERT4RecHyperModel
from rearec_keras.tuning.hypermodel import ReaHSTUHyperModel
from rearec_keras.tuning.hypermodel import ReaRecHyperModel
from rearec_keras.tuning.hypermodel import ReaSASRecHyperModel
from rearec_keras.tuning.search_space import SearchSpace
from rearec_keras.tuning.search_space import SearchSpaceError
from rearec_keras.tuning.search_space import paper_search_space
from rearec_keras.tuning.search_space import parse_space_flag
from rearec_keras.tuning.study import ALGORITHMS
from rearec_keras.tuning.study import make_tuner
from rearec_keras.tuning.study import plot_sensitivity
from rearec_keras.tuning.study import run_study
from rearec_keras.tuning.study import trials_table

__all__ = [
    "ALGORITHMS", "ReaBERT4RecHyperModel", "ReaHSTUHyperModel", "ReaRecHyperModel",
    "ReaSASRecHyperModel",
    "SearchSpace", "SearchSpaceError", "make_tuner", "paper_search_space", "parse_space_flag",
    "plot_sensitivity", "run_study", "trials_table",
]
