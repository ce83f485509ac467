"""`base`: the backbone without reasoning (K = 0), next-item cross-entropy."""

from rearec_keras.methods.method import Method
from rearec_keras.methods.registry import register_method


@register_method
class BaseMethod(Method):
    """The plain backbone (SASRec, BERT4Rec, ...): no reasoning steps,
    cross-entropy of the last position's state at τ over the catalog."""

    name = "base"
    title = "Base"
    description = "the backbone alone (K = 0): next-item cross-entropy on the last position"
    reasons = False
