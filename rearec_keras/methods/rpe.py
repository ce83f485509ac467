"""`rpe`: K reasoning steps with reasoning position embeddings, loss on the
last step only (the ReaRec paper's ablation)."""

from rearec_keras.methods.common import REASONING_STEPS_GRID
from rearec_keras.methods.method import Method
from rearec_keras.methods.registry import register_method


@register_method
class RPEMethod(Method):
    """ReaRec's "+RPE" ablation: the reasoning loop with `P^R`, trained with
    cross-entropy on the last state, inference from the last state."""

    name = "rpe"
    title = "RPE"
    description = "reasoning steps with position embeddings, cross-entropy on the last step"
    search_space = {"reasoning_steps": list(REASONING_STEPS_GRID)}
