"""`DTRec`: ReaRec's reasoning loop trained with DTRec's Hierarchical Process
Supervision (`ReaRecModel` with `learning="dtrec"`, see
`rearec_keras.methods.dtrec`); per-user halting at inference with
`score_with_halting` (`rearec_keras.halting`)."""

import keras

from rearec_keras.models.rearec_model import MethodModel



@keras.saving.register_keras_serializable(package="rearec_keras")
class DTRec(MethodModel):
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

    learning_name = "dtrec"
