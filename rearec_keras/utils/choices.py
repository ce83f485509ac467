"""The fixed value sets of settings, defined once (no Keras import).

Layers, losses, the learning methods' `Setting`s and `RunConfig` all read
them from here.
"""

# Sampled-softmax candidates (`NegativeSampler`, `negatives=`).
NEGATIVES = ("full", "in_batch", "uniform", "popularity")
# ReaRec loss variants (`MultiStepCrossEntropy(variant=)`, `loss_variant=`).
LOSS_VARIANTS = ("paper", "code")
# ERL's divergence between the steps (`EnsembleDiversityLoss`, `diversity=`).
DIVERGENCES = ("kl", "js")
# PRL twin's next input (`RecurrentReasoning(twin_inputs=)`).
TWIN_INPUT_MODES = ("clean", "noisy")
# Ranking metrics (`ranking_metrics`, `monitor=`).
METRICS = ("ndcg", "recall", "mrr")
# Model dtype policies a run may ask for (`precision=`).
PRECISIONS = ("float32", "mixed_bfloat16")
# Repeated interactions (`drop_duplicates(keep=)`, the splits' and
# `RunConfig`'s `duplicates=`): exact (user, item, timestamp) repeats, one
# per (user, item) pair keeping the first / last, or keep all.
DUPLICATES = ("exact", "first", "last", "none")
# LARES (`DepthRecurrentReasoning`, the `lares` method's settings).
DEPTH_SAMPLERS = ("poisson_lognormal", "uniform", "poisson_bounded", "constant",
                  "non_recurrent")
ADAPTERS = ("add", "concat", "linear")
STATE_INITS = ("normal", "normal_zero", "zero")
SIMILARITIES = ("dot", "cos")
REWARDS = ("recall", "ndcg")
# Halting (`rearec_keras.halting`): the modes (`learned`: a model's own
# halting head, DTRec) and the confidence signal's definition.
HALTING_RULES = ("all", "weighted", "kl", "learned")
CONFIDENCES = ("max", "entropy")
# DTRec's prototype levels (`rearec_keras.prototypes.prototype_sizes`).
PROTOTYPE_SCHEDULES = ("geometric", "linear")
