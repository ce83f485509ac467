"""`LARES`: the depth-recurrent model (`ReaRecModel` with `learning="lares"`).

`LARES(num_items)` is a `ReaRecModel` whose reasoner is
`DepthRecurrentReasoning` and whose method is `lares`, with the official
model's defaults (`reasoning_steps` = k̄ = 4, τ = 1, dropout 0.5, 2 heads,
FFN 256). `score(histories, steps=k)` runs any depth k ≥ 1 with the same
weights (test-time depth scaling).
"""

import keras

from rearec_keras.models.rearec_model import MethodModel



@keras.saving.register_keras_serializable(package="rearec_keras")
class LARES(MethodModel):
    """LARES (see the module docstring and `rearec_keras.methods.lares`).

    Example:

    ```python
    model = LARES(split.num_items, max_length=50)
    model.compile(optimizer="adam")
    model.fit(LARESMethod.training_batches(split.train, 256, shuffle=True, seed=0,
                                           drop_remainder=False), epochs=10)
    model.score(histories, steps=8)  # deeper than trained
    ```
    """

    learning_name = "lares"
