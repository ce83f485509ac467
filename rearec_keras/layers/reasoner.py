"""The reasoner contract: how a model turns an encoded history into
reasoning states.

A reasoner is a Keras layer owned by the model (`model.reasoning`). The
model computes the item inputs (item vectors + positions) and calls

    reasoner(item_inputs, padding_mask, steps=None, training=None, **options)

with `item_inputs` `[B, L, d]`, `padding_mask` `[B, L]` (True for real
items; histories are left-padded), `steps` the depth to run (None: the
trained depth), and `options` from the learning method's
`forward_options` (e.g. PRL's `noise_std`) plus `mode` (the backbone's
attention mode) when the reasoner's `call` accepts it. It returns a dict:

- `"states"`: `[B, S + 1, d]`, the read-out after each step `0..S` (step 0
  is the encoder before any reasoning). Every method pools these.
- `"step_mask"` (optional): `[B, S + 1]`, the valid steps of each row, for
  a reasoner that halts rows early (adaptive depth); pooling then reads
  each row's last valid step (or averages its valid steps).
- `"sequence_states"` (optional): `[B, L, d]`, every position's final
  state, for reasoners that refine all positions (depth recurrence).
- anything the method asked for (e.g. `"noisy_states"`).

Attributes:
    reasoning_steps: the trained (default) depth.
    max_steps: the deepest `steps` accepted; None for a reasoner that runs
        any depth (test-time depth scaling).

`RecurrentReasoning` (ReaRec) is the built-in one: each step appends one
token (the last state plus a reasoning position embedding) over a KV cache.
"""

import keras


class Reasoner(keras.layers.Layer):
    """Base class of reasoners (see the module docstring for the contract).

    Subclasses implement `call` and set `reasoning_steps`; `max_steps`
    defaults to `reasoning_steps` (override with None to allow any depth).
    """

    @property
    def max_steps(self):
        return self.reasoning_steps
