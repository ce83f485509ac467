"""Full-ranking evaluation (NDCG@k, Recall@k / HR@k, MRR@k) for recommenders.

Item ids are `1..num_items`; id `0` is padding, so models return score
matrices of shape `[batch, num_items + 1]` whose column `0` is never ranked.
"""

from rearec_keras.evaluation.callback import RankingEvaluationCallback
from rearec_keras.evaluation.evaluator import check_catalog
from rearec_keras.evaluation.evaluator import compute_ranks
from rearec_keras.evaluation.evaluator import evaluate
from rearec_keras.evaluation.ranking import chunked_target_ranks
from rearec_keras.evaluation.ranking import ranking_metrics
from rearec_keras.evaluation.ranking import target_ranks

__all__ = [
    "RankingEvaluationCallback",
    "check_catalog",
    "chunked_target_ranks",
    "compute_ranks",
    "evaluate",
    "ranking_metrics",
    "target_ranks",
]
