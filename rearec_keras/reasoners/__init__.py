"""Reasoners: the part of a model that "thinks" (see `Reasoner` for the
contract a new one implements)."""

from rearec_keras.layers.recurrent_reasoning import RecurrentReasoning
from rearec_keras.layers.reasoner import Reasoner

__all__ = ["Reasoner", "RecurrentReasoning"]
