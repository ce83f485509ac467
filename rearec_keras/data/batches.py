"""Batches of in-memory arrays as a `keras.utils.PyDataset` (no TensorFlow).

`make_dataset` / `SplitPart.as_dataset` return a `tf.data.Dataset` when
TensorFlow is installed and an `ArrayBatches` otherwise, so training runs on
JAX or PyTorch machines without TensorFlow. Both yield the same batches
(`(inputs, targets)`, same sizes and dtypes, `inputs` an array, a tuple or a
dict of arrays as given); shuffled orders differ.
"""

from __future__ import annotations

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """`(inputs, targets)` batches of numpy arrays, reshuffled every epoch.

    Args:
        inputs: an array `[n, ...]`, a tuple of such arrays or a dict of
            them (`{"histories", "timestamps"}` for a model with a time
            bias: `part.model_inputs()`).
        targets: an array `[n]`.
        batch_size: examples per batch.
        shuffle: a new permutation of the examples every epoch (Keras calls
            `on_epoch_end` after each epoch of `fit`).
        seed: shuffle seed: the same seed gives the same sequence of epochs.
        drop_remainder: drop the last partial batch.
        repeat: endless (`num_batches` is None; pass `steps_per_epoch` to
            `fit`); batch `i` comes from epoch `i // batches_per_epoch`.
        **kwargs: `keras.utils.PyDataset` options (`workers`, ...).

    Example:

    ```python
    batches = ArrayBatches(split.train.histories, split.train.targets,
                           batch_size=256, shuffle=True, seed=0)
    model.fit(batches, epochs=10, shuffle=False)
    ```
    """

    def __init__(
        self,
        inputs,
        targets,
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        drop_remainder: bool = False,
        repeat: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._names = tuple(inputs) if isinstance(inputs, dict) else None
        self._tuple = isinstance(inputs, tuple)
        if self._names is not None:
            inputs = tuple(inputs[k] for k in self._names)
        self.inputs = tuple(np.asarray(a) for a in (inputs if self._tuple or self._names
                                                    else (inputs,)))
        self.targets = np.asarray(targets)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.repeat = bool(repeat)
        n = len(self.targets)
        full, rest = divmod(n, self.batch_size)
        self.batches_per_epoch = full if (drop_remainder or not rest) else full + 1
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"{n} examples make no batch of {self.batch_size} with drop_remainder=True."
            )
        self._seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        self._epoch = 0
        self._order = {}

    @property
    def num_batches(self):
        return None if self.repeat else self.batches_per_epoch

    def __len__(self):
        if self.repeat:
            raise TypeError("a repeated ArrayBatches is endless and has no len().")
        return self.batches_per_epoch

    def _permutation(self, epoch):
        if not self.shuffle:
            return None
        if epoch not in self._order:
            self._order = {epoch: np.random.default_rng((self._seed, epoch)).permutation(len(self.targets))}
        return self._order[epoch]

    def __getitem__(self, index):
        index = int(index)
        if index < 0 or (not self.repeat and index >= self.batches_per_epoch):
            raise IndexError(f"batch {index} out of range 0..{self.batches_per_epoch - 1}.")
        epoch, index = divmod(index, self.batches_per_epoch)
        order = self._permutation(self._epoch + epoch)
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        rows = order[rows] if order is not None else rows
        xs = tuple(a[rows] for a in self.inputs)
        if self._names is not None:
            return dict(zip(self._names, xs)), self.targets[rows]
        return (xs if self._tuple else xs[0]), self.targets[rows]

    def __iter__(self):
        """One epoch (endless when `repeat`); direct iteration also
        reshuffles between passes."""
        count = 0
        while self.repeat or count < self.batches_per_epoch:
            yield self[count]
            count += 1
        self.on_epoch_end()

    def on_epoch_end(self):
        self._epoch += 1


def same_target_groups(targets):
    """`(order, starts, counts)`: the rows sorted by target (`order`), where
    each row's target group starts in `order` and its size, per row."""
    targets = np.asarray(targets)
    order = np.argsort(targets, kind="stable")
    values, first, sizes = np.unique(targets[order], return_index=True, return_counts=True)
    group = np.searchsorted(values, targets)
    return order, first[group], sizes[group]


def positive_rows(targets, rng, groups=None):
    """For every row, another row with the same target drawn uniformly
    (the row itself when no other row has its target) — LARES' "semantic
    augmentation"."""
    order, starts, counts = groups if groups is not None else same_target_groups(targets)
    n = len(order)
    # Position of each row inside its group (order is sorted by target).
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    position -= starts
    draw = (rng.random(n) * np.maximum(counts - 1, 1)).astype(np.int64)
    draw = np.where(draw >= position, draw + 1, draw)  # skip the row itself
    draw = np.where(counts > 1, draw, position)
    return order[starts + draw]


class PositiveBatches(ArrayBatches):
    """`((histories, positives), targets)` batches of a split part: each
    row's positive history is another training row with the same target
    (`positive_rows`), drawn afresh every epoch from the seed."""

    def __init__(self, part, batch_size=256, *, shuffle=False, seed=None,
                 drop_remainder=False, **kwargs):
        if getattr(part, "timestamp_inputs", False):
            raise ValueError(
                "positive-history batches (LARES) carry no timestamps, but the part is set "
                "to feed a model with a time bias (timestamp_inputs=True): train LARES on a "
                "model without a time bias (time_buckets=0)."
            )
        super().__init__(part.histories, part.targets, batch_size, shuffle=shuffle, seed=seed,
                         drop_remainder=drop_remainder, **kwargs)
        self.groups = same_target_groups(part.targets)
        self._positives = {}

    def positives(self, epoch):
        if epoch not in self._positives:
            rng = np.random.default_rng((self._seed, epoch, 1))
            self._positives = {epoch: positive_rows(self.targets, rng, self.groups)}
        return self._positives[epoch]

    def __getitem__(self, index):
        histories, targets = super().__getitem__(index)
        epoch, local = divmod(int(index), self.batches_per_epoch)
        order = self._permutation(self._epoch + epoch)
        rows = slice(local * self.batch_size, (local + 1) * self.batch_size)
        rows = order[rows] if order is not None else np.arange(len(self.targets))[rows]
        positives = self.inputs[0][self.positives(self._epoch + epoch)[rows]]
        return (histories, positives), targets
