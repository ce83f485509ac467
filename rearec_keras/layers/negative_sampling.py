"""Negatives for sampled-softmax training on large catalogs."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rearec_keras.utils.padding import PADDING_LOGIT
from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_int

# `"full"`: every item is a competitor (exact softmax, no sampler needed).
from rearec_keras.utils.choices import NEGATIVES  # noqa: E402,F401


def _check_frequencies(item_frequencies, num_items):
    counts = np.asarray(item_frequencies, dtype="float64")
    if counts.ndim != 1 or counts.shape[0] not in (num_items, num_items + 1):
        raise ValueError(
            f"`item_frequencies` must be 1-D with num_items + 1 = {num_items + 1} entries "
            f"(index = item id, 0 is padding) or num_items = {num_items} (ids 1..N); got shape "
            f"{counts.shape}."
        )
    if counts.shape[0] == num_items:
        counts = np.concatenate([[0.0], counts])
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        item = int(np.argmax(bad))
        raise ValueError(
            f"`item_frequencies` must be finite and >= 0; item {item} has {counts[item]!r}."
        )
    counts[0] = 0.0
    if counts.sum() <= 0:
        raise ValueError("`item_frequencies` are all zero: there is no popularity to sample from.")
    return counts


@keras.saving.register_keras_serializable(package="rearec_keras")
class NegativeSampler(keras.layers.Layer):
    """Candidate items and logQ correction for sampled-softmax training.

    Full softmax costs `O(batch × num_items)` per reasoning step. This layer
    replaces the catalog by a small candidate set per training batch:

    - `"in_batch"`: the batch's own targets are the candidates (the diagonal
      is each row's positive), `C = batch`.
    - `"uniform"` / `"popularity"`: the row's positive plus `num_negatives`
      items shared by the batch, drawn with replacement uniformly or in
      proportion to `item_frequencies` (inverse-CDF sampling, `O(M log N)`,
      so 1M-item catalogs sample cheaply on every backend).

    Candidate logits are corrected by `log Q(item)`, the log of the item's
    expected count in the candidate set (`batch · p(item)` in-batch,
    `M · q(item)` sampled; positive included, as in Bengio & Senécal's
    importance-sampled softmax and Yi et al. 2019's in-batch correction),
    which makes the sampled softmax an unbiased-in-the-limit estimate of the
    full one. The correction is added in the tempered space: a loss that
    divides the logits by `τ_k` receives `s - τ_k · log Q`, so
    `softmax(s/τ_k - log Q)` is what it computes.

    Accidental hits are masked: a candidate equal to the row's target other
    than its designated positive column gets the padding logit `-1e9`
    (keras-rs 0.4.0's `RemoveAccidentalHits` does not work, see
    PITFALLS.md). The output keeps the package convention that column 0 is
    padding (masked by every loss), so the targets become column indices:
    `1..B` in-batch, always `1` with sampled negatives.

    Args:
        num_items: catalog size `N` (ids `1..N`).
        negatives: `"in_batch"`, `"uniform"` or `"popularity"`.
        num_negatives: `M`, shared sampled negatives per batch (sampled modes).
        item_frequencies: `[N + 1]` (or `[N]`) non-negative counts, e.g.
            `split.train_item_counts()`. Needed for `"popularity"` and for
            the in-batch logQ correction. Stored as non-trainable weights;
            pass the string `"weights"` to create zero placeholders that a
            saved model's weights then fill in.
        logq_correction: subtract `log Q` (default True).
        seed: seed of the negative sampler.
    """

    def __init__(
        self,
        num_items,
        negatives="uniform",
        num_negatives=1024,
        item_frequencies=None,
        logq_correction=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("num_items", num_items, 1)
        check_choice("negatives", negatives, NEGATIVES[1:])
        check_int("num_negatives", num_negatives, 1)
        self.num_items = int(num_items)
        self.negatives = negatives
        self.num_negatives = int(num_negatives)
        self.logq_correction = bool(logq_correction)
        self.seed = seed
        self._frequencies = None
        if isinstance(item_frequencies, str):
            if item_frequencies != "weights":
                raise ValueError(
                    "`item_frequencies` must be an array of counts, None or 'weights'; got "
                    f"{item_frequencies!r}."
                )
            self._stored = True
        else:
            self._stored = item_frequencies is not None
            if item_frequencies is not None:
                self._frequencies = _check_frequencies(item_frequencies, self.num_items)
        if not self._stored and (
            negatives == "popularity" or (negatives == "in_batch" and self.logq_correction)
        ):
            why = "to sample from" if negatives == "popularity" else "for the logQ correction"
            raise ValueError(
                f"negatives={negatives!r} needs `item_frequencies` {why} (e.g. "
                "split.train_item_counts())"
                + (", or pass logq_correction=False." if negatives == "in_batch" else ".")
            )
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        if self._stored:
            if self._frequencies is not None:
                probs = self._frequencies / self._frequencies.sum()
                with np.errstate(divide="ignore"):
                    log_q = np.log(probs)
                # Items never seen get a finite floor (they can still be
                # positives when the counts come from other data).
                log_q = np.maximum(log_q, np.log(1e-30)).astype("float32")
                cdf = np.cumsum(probs[1:]).astype("float32")
                log_q_init = keras.initializers.Constant(log_q)
                cdf_init = keras.initializers.Constant(cdf)
            else:
                log_q_init = cdf_init = "zeros"
            self.log_q = self.add_weight(
                shape=(self.num_items + 1,), initializer=log_q_init, trainable=False,
                dtype="float32", name="log_q",
            )
            self.cdf = self.add_weight(
                shape=(self.num_items,), initializer=cdf_init, trainable=False,
                dtype="float32", name="cdf",
            )
        self.built = True

    # ------------------------------------------------------------------

    def sample(self, targets):
        """The candidate set of one batch.

        Returns a dict: `"ids"` (int32 `[C]`, the shared candidates),
        `"targets"` (int32 `[B]`), `"log_q"` (float32 `[B, 1 + C']`,
        including the padding column) and `"hits"` (bool `[B, 1 + C']`,
        accidental hits to mask), where `C' = C` in-batch and `1 + M`
        otherwise.
        """
        targets = ops.cast(ops.reshape(targets, (-1,)), "int32")
        batch = ops.shape(targets)[0]
        zero_col = ops.zeros((batch, 1), "float32")
        false_col = ops.zeros((batch, 1), "bool")
        if self.negatives == "in_batch":
            ids = targets
            same = ops.equal(ops.expand_dims(targets, 1), ops.expand_dims(ids, 0))
            hits = ops.logical_and(same, ops.logical_not(ops.eye(batch, dtype="bool")))
            if self.logq_correction:
                count = ops.cast(batch, "float32")
                log_q = ops.take(self.log_q, ids, axis=0) + ops.log(count)
                log_q = ops.broadcast_to(ops.expand_dims(log_q, 0), (batch, batch))
            else:
                log_q = ops.zeros((batch, batch), "float32")
        else:
            M = self.num_negatives
            if self.negatives == "uniform":
                ids = keras.random.randint(
                    (M,), 1, self.num_items + 1, dtype="int32", seed=self.seed_generator
                )
            else:
                u = keras.random.uniform((M,), dtype="float32", seed=self.seed_generator)
                index = ops.searchsorted(self.cdf, u, side="right")
                ids = ops.cast(ops.minimum(index, self.num_items - 1), "int32") + 1
            hits = ops.concatenate(
                [false_col, ops.equal(ops.expand_dims(targets, 1), ops.expand_dims(ids, 0))],
                axis=1,
            )
            if self.logq_correction and self.negatives == "popularity":
                log_m = float(np.log(M))
                pos = ops.expand_dims(ops.take(self.log_q, targets, axis=0), 1) + log_m
                neg = ops.expand_dims(ops.take(self.log_q, ids, axis=0), 0) + log_m
                log_q = ops.concatenate([pos, ops.broadcast_to(neg, (batch, M))], axis=1)
            else:
                # Uniform: log Q is the same for every candidate and
                # cancels in the softmax.
                log_q = ops.zeros((batch, 1 + M), "float32")
        return {
            "ids": ids,
            "targets": targets,
            "log_q": ops.concatenate([zero_col, log_q], axis=1),
            "hits": ops.concatenate([false_col, hits], axis=1),
        }

    def logits(self, vectors, item_table, candidates, temperatures=1.0):
        """Candidate logits of `vectors` and the target column per row.

        Args:
            vectors: `[B, S, d]` states (S reasoning steps or 1 pooled).
            item_table: float32 `[N + 1, d]` item vectors.
            candidates: the dict from `sample`.
            temperatures: float or `S` floats: the temperature each step's
                loss divides by, so the correction lands in tempered space.

        Returns:
            `(logits, columns)`: float32 `[B, S, 1 + C']` whose column 0 is
            padding, and int32 `[B]` target columns.
        """
        vectors = ops.cast(vectors, "float32")
        targets = candidates["targets"]
        batch = ops.shape(targets)[0]
        shared = ops.take(item_table, candidates["ids"], axis=0)
        scores = ops.einsum("bsd,cd->bsc", vectors, shared)
        if self.negatives == "in_batch":
            columns = ops.arange(1, batch + 1, dtype="int32")
        else:
            positive = ops.take(item_table, targets, axis=0)
            pos = ops.expand_dims(ops.einsum("bsd,bd->bs", vectors, positive), -1)
            scores = ops.concatenate([pos, scores], axis=-1)
            columns = ops.ones((batch,), "int32")
        scores = ops.concatenate([ops.zeros_like(scores[..., :1]), scores], axis=-1)
        if self.logq_correction:
            temps = np.reshape(np.asarray(temperatures, dtype="float32"), (1, -1, 1))
            scores = scores - ops.convert_to_tensor(temps) * ops.expand_dims(
                candidates["log_q"], 1
            )
        scores = ops.where(
            ops.expand_dims(candidates["hits"], 1), ops.cast(PADDING_LOGIT, "float32"), scores
        )
        return scores, columns

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_items": self.num_items,
                "negatives": self.negatives,
                "num_negatives": self.num_negatives,
                "item_frequencies": "weights" if self._stored else None,
                "logq_correction": self.logq_correction,
                "seed": self.seed,
            }
        )
        return config
