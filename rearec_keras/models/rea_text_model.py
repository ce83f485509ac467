"""Text-based backbones: UniSRec and MoRec, with and without latent reasoning.

Items are represented by frozen features of their text (e.g. from
`rearec_keras.text.item_text_features`, or any `[num_items, F]` matrix a
user brings, such as LLM embeddings) passed through a trainable adaptor.
The adapted table is used both for the encoder's input tokens and as the
candidates that are scored, so an item never seen in training still gets a
representation, and a score, from its text (cold start).

Choices where the ReaRec paper is silent (all are arguments):

* UniSRec: 8 parametric-whitening experts with a softmax gate (noisy in
  training, as in UniSRec), adaptor dropout 0.2, text-only items
  (`id_fusion=False`, UniSRec's inductive setting; `True` adds an id
  embedding, the transductive setting).
* MoRec: one trainable dense layer `F → d` on the frozen features
  (`projection_hidden_dim` adds a GeLU hidden layer), no adaptor dropout.
* Both score with the dot product against the adapted table at the
  package's temperature τ (the same scorer as ReaSASRec), not UniSRec's
  cosine; they keep the code's LayerNorm + Dropout(0.2) on the encoder
  input and the SASRec (causal) encoder.
* UniSRec's multi-domain pre-training is out of scope: the adaptor and the
  encoder are trained on the target dataset, as in the ReaRec experiments.

References: Hou et al., "Towards Universal Sequence Representation
Learning for Recommender Systems" (KDD 2022); Yuan et al., "Where to Go
Next for Recommender Systems? ID- vs. Modality-based Recommender Models
Revisited" (SIGIR 2023); Tang et al., arXiv:2503.22675, Table 3.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rearec_keras.layers.feature_projection import FeatureProjection
from rearec_keras.layers.item_feature_table import ItemFeatureTable
from rearec_keras.layers.item_feature_table import check_item_features
from rearec_keras.models.rearec_model import ReaRecModel
from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate


@keras.saving.register_keras_serializable(package="rearec_keras")
class ReaTextRecModel(ReaRecModel):
    """Base class of the text backbones (`ReaUniSRec`, `ReaMoRec`).

    Every `ReaRecModel` argument applies (reasoning steps, ERL/PRL, losses,
    sampled softmax, dtype policy), plus:

    Args:
        num_items: catalog size `N` (items `1..N`); None takes the row
            count of `item_features`.
        item_features: frozen item features, `[N, F]` (row `i - 1` is item
            `i`) or `[N + 1, F]` (row 0 is padding), e.g. from
            `rearec_keras.text.item_text_features(split)`. Stored in the
            model's weights (`"weights"` when loading a saved model).
        feature_dim: `F`; needed only with `item_features="weights"`.
        id_fusion: add a learned id embedding to each item's adapted text
            vector (transductive). Off by default: items are text only,
            which is what lets unseen items be scored.
        adaptor_dropout: dropout on the frozen features in training.

    Cold start: every item with features gets a score, including items that
    never occur in the training data; `with_item_features` returns a copy
    of a trained model over a larger catalog (new items from their text).
    """

    default_adaptor_dropout = 0.2
    projection_hidden_dim = None  # the base adaptor's hidden layer (ReaMoRec sets it)

    def __init__(
        self,
        num_items=None,
        item_features=None,
        feature_dim=None,
        id_fusion: bool = False,
        adaptor_dropout: float | None = None,
        **kwargs,
    ):
        name = type(self).__name__
        if item_features is None:
            raise ValueError(
                f"{name} needs `item_features`, a [num_items, F] matrix of frozen item "
                "features (e.g. rearec_keras.text.item_text_features(split))."
            )
        if isinstance(item_features, str):
            if item_features != "weights":
                raise ValueError(
                    f"`item_features` must be a matrix or 'weights'; got {item_features!r}."
                )
            if num_items is None or feature_dim is None:
                raise ValueError(
                    "item_features='weights' (a placeholder filled by saved weights) needs "
                    "`num_items` and `feature_dim`."
                )
            features = "weights"
        else:
            if num_items is None:
                num_items = int(np.shape(item_features)[0])
            check_int("num_items", num_items, 1)
            features = check_item_features(item_features, num_items)
            if feature_dim is not None and int(feature_dim) != features.shape[1]:
                raise ValueError(
                    f"feature_dim={feature_dim} but `item_features` have {features.shape[1]} "
                    "columns."
                )
            feature_dim = features.shape[1]
        super().__init__(num_items, **kwargs)
        self.feature_dim = check_int("feature_dim", feature_dim, 1)
        self.id_fusion = bool(id_fusion)
        if adaptor_dropout is None:
            adaptor_dropout = self.default_adaptor_dropout
        self.adaptor_dropout = check_rate("adaptor_dropout", adaptor_dropout)
        with self._sublayer_policy():
            self.feature_table = ItemFeatureTable(
                self.num_items, self.feature_dim, features, name="item_features"
            )
            self.adaptor = self._make_adaptor()
            if self.id_fusion:
                super()._make_item_layers()

    def _make_item_layers(self):
        # Created after the text settings are known (end of `__init__`).
        pass

    def _make_adaptor(self):
        """The trainable adaptor F -> d: one dense layer here (MoRec's);
        `ReaUniSRec` overrides it with the MoE of whitening experts."""
        return FeatureProjection(
            self.hidden_dim, hidden_dim=self.projection_hidden_dim, dropout=self.adaptor_dropout,
            name="projection",
        )

    # ------------------------------------------------------------------
    # Item representation: adaptor(frozen features) [+ id embedding].

    def _item_table(self, training=False):
        table = self.adaptor(self.feature_table(), training=training)
        if self.id_fusion:
            table = table + ops.cast(self.item_embedding.embeddings, table.dtype)
        return table

    def _training_table(self):
        # One table per step: the inputs and the loss see the same dropout
        # and gate noise.
        return self._item_table(training=True)

    def _lookup_items(self, histories, table=None):
        if table is not None:
            return ops.take(table, histories, axis=0)
        # Inference: adapt only the history's rows, not the whole catalog.
        vectors = self.adaptor(self.feature_table(histories), training=False)
        if self.id_fusion:
            vectors = vectors + ops.cast(self.item_embedding(histories), vectors.dtype)
        return vectors

    def item_features(self) -> np.ndarray:
        """The frozen features `[num_items + 1, F]` (row 0 is padding)."""
        return keras.ops.convert_to_numpy(self.feature_table.features)

    # ------------------------------------------------------------------
    # Cold start.

    def with_item_features(self, item_features):
        """A copy of this model over a new catalog, for unseen items.

        `item_features` describe the new catalog, `[N', F]` or `[N' + 1, F]`
        with `N' >= num_items` whose first `num_items` items are this
        model's items in the same order (typically this model's features
        with new rows appended). Every trained weight is copied; the new
        items get their representation from their text (and a zero id
        embedding with `id_fusion`; zero counts for a sampled softmax).
        Scores of the old items are unchanged (unless their features are).

        Returns:
            A new built model of the same class (not compiled).
        """
        features = np.asarray(keras.ops.convert_to_numpy(item_features))
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"the new `item_features` must be [N, {self.feature_dim}]; got shape "
                f"{features.shape}."
            )
        # A [N' + 1, F] matrix whose row 0 is all zero is taken as padded.
        padded = features.shape[0] > 0 and not np.any(features[0])
        new_items = features.shape[0] - (1 if padded else 0)
        if new_items < self.num_items:
            raise ValueError(
                f"the new catalog has {new_items} items, fewer than the model's {self.num_items}; "
                "append new items after the existing ones."
            )
        config = self.get_config()
        config.update(num_items=new_items, item_features=features)
        if self.negative_sampler is not None and config.get("item_frequencies") == "weights":
            probs = np.exp(keras.ops.convert_to_numpy(self.negative_sampler.log_q))
            probs[0] = 0.0
            config["item_frequencies"] = np.concatenate(
                [probs, np.zeros(new_items - self.num_items)]
            )
        model = type(self).from_config(config)
        model.build((None, self.max_length))
        old = {v.path: v for v in self.weights}
        skip = {v.path for v in self.feature_table.weights}
        if self.negative_sampler is not None:
            skip |= {v.path for v in self.negative_sampler.weights}
        for variable in model.weights:
            source = old.get(variable.path)
            if source is None or variable.path in skip:
                continue
            value = keras.ops.convert_to_numpy(source)
            if value.shape != tuple(variable.shape):  # the id embedding rows
                grown = np.zeros(tuple(variable.shape), value.dtype)
                grown[: value.shape[0]] = value
                value = grown
            variable.assign(value)
        return model

    # ------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "item_features": "weights",  # the matrix lives in the weights
                "feature_dim": self.feature_dim,
                "id_fusion": self.id_fusion,
                "adaptor_dropout": self.adaptor_dropout,
            }
        )
        return config
