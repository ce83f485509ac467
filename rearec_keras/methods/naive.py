"""`naive`: K reasoning steps without reasoning position embeddings (the
ReaRec paper's "Naive" ablation)."""

from rearec_keras.methods.common import REASONING_STEPS_GRID
from rearec_keras.methods.method import Method
from rearec_keras.methods.registry import register_method


@register_method
class NaiveMethod(Method):
    """ReaRec's "Naive" ablation: the last hidden state is fed back as is
    (no `P^R`), cross-entropy on the last state."""

    name = "naive"
    title = "Naive"
    description = "reasoning steps without position embeddings, cross-entropy on the last step"
    reasoner_options = {"use_reasoning_position": False}
    search_space = {"reasoning_steps": list(REASONING_STEPS_GRID)}
