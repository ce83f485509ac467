"""`DTRec`: ReaRec's reasoning loop trained with DTRec's Hierarchical Process
Supervision (`ReaRecModel` with `learning="dtrec"`, see
`rearec_keras.methods.dtrec`); per-user halting at inference with
`score_with_halting` (`rearec_keras.halting`)."""

import keras

from rearec_keras.methods import get_method
from rearec_keras.models.rearec_model import ReaRecModel

_DEFAULTS = get_method("dtrec").model_defaults


@keras.saving.register_keras_serializable(package="rearec_keras")
class DTRec(ReaRecModel):
    """DTRec (HPS; see the module docstring). Defaults: K = 3 steps
    (`reasoning_steps`), geometric prototype levels from 16 to the catalog,
    one warm-up epoch of item CE.

    Example:

    ```python
    model = DTRec(split.num_items, max_length=50)
    model.compile(optimizer="adam")
    model.fit(split.train.as_dataset(256, shuffle=True, seed=0), epochs=10)
    scores, steps = model.score_with_halting(histories, "kl", {"threshold": 0.05})
    ```
    """

    def __init__(self, num_items, **kwargs):
        kwargs.setdefault("learning", "dtrec")
        if kwargs["learning"] != "dtrec":
            raise ValueError(f"DTRec trains with learning='dtrec', got {kwargs['learning']!r}")
        for key, value in _DEFAULTS.items():
            kwargs.setdefault(key, value)
        super().__init__(num_items, **kwargs)
