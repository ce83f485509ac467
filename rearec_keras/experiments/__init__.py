"""Reproducible runs: configs, the run directory, comparisons, analyses.

The library side of the `rearec-keras` command line.
"""

from rearec_keras.experiments.analysis import analyze
from rearec_keras.experiments.analysis import compute_analyses
from rearec_keras.experiments.compare import compare
from rearec_keras.experiments.config import ConfigError
from rearec_keras.experiments.config import RunConfig
from rearec_keras.experiments.config import load_config
from rearec_keras.experiments.run_dir import RunRecommender
from rearec_keras.experiments.run_dir import load_recommender
from rearec_keras.experiments.runner import RunError
from rearec_keras.experiments.runner import build_model
from rearec_keras.experiments.runner import load_run
from rearec_keras.experiments.runner import prepare_data
from rearec_keras.experiments.runner import train_run
