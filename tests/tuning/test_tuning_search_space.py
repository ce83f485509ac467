"""Search spaces: the paper's grids, overrides, and errors for bad input."""

import keras_tuner
import pytest

from rearec_keras.experiments.config import RunConfig
from rearec_keras.tuning import SearchSpace
from rearec_keras.tuning import SearchSpaceError
from rearec_keras.tuning import paper_search_space
from rearec_keras.tuning import parse_space_flag


def test_paper_grids():
    assert paper_search_space("erl") == {
        "kl_weight": [0.001, 0.005, 0.01, 0.05, 0.1], "reasoning_steps": [1, 2, 3]}
    assert paper_search_space("prl") == {
        "base_temperature": [0.05, 0.1, 0.5, 1.0, 2.0, 5.0],
        "temperature_decay": [1.0, 1.2, 1.5, 2.0, 5.0, 10.0],
        "reasoning_steps": [1, 2, 3]}
    assert paper_search_space("rpe") == {"reasoning_steps": [1, 2, 3]}
    with pytest.raises(SearchSpaceError, match="learning='base' has no reasoning"):
        paper_search_space("base")
    # A fresh dict each call: editing one does not change the next.
    paper_search_space("erl")["kl_weight"].append(9.0)
    assert 9.0 not in paper_search_space("erl")["kl_weight"]


def test_default_space_follows_the_learning():
    space = SearchSpace(config=RunConfig(learning="prl"))
    assert space.names == ["base_temperature", "temperature_decay", "reasoning_steps"]
    assert space.varied() == space.names


def test_overrides_replace_add_and_remove():
    space = SearchSpace(config=RunConfig(learning="prl"), overrides={
        "base_temperature": [0.1, 1], "temperature_decay": None,
        "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"}, "reasoning_steps": 2})
    assert space.to_dict() == {
        "base_temperature": [0.1, 1.0], "reasoning_steps": 2,
        "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"}}
    assert space.varied() == ["base_temperature", "learning_rate"]
    assert space.continuous() == ["learning_rate"]


def test_declare_gives_typed_values_and_starts_from_the_config():
    config = RunConfig(learning="prl", base_temperature=0.5)
    space = SearchSpace({"base_temperature": [0.1, 0.5, 1], "reasoning_steps": [1, 3],
                         "dropout": {"min": 0.1, "max": 0.3, "step": 0.1}, "twin_inputs": "noisy"},
                        config)
    hp = keras_tuner.HyperParameters()
    values = space.declare(hp)
    # Defaults: the config's value where it is a candidate, else the first.
    assert values == {"base_temperature": 0.5, "reasoning_steps": 1, "dropout": 0.1,
                      "twin_inputs": "noisy"}
    assert isinstance(values["base_temperature"], float) and isinstance(values["reasoning_steps"], int)
    assert hp.get("base_temperature") == 0.5
    assert type(hp._hps["twin_inputs"][0]).__name__ == "Fixed"
    assert type(hp._hps["dropout"][0]).__name__ == "Float"


@pytest.mark.parametrize("spec, message", [
    ({"seed": [0, 1]}, "'seed' cannot be tuned"),
    ({"kl_weight": [0.1], "epochs": 3}, "'epochs' cannot be tuned"),
    ({"noise_std": [0.1, 1.0]}, r"'noise_std' only affects learning=prl, but the study trains learning='erl'"),
    ({"kl_weight": []}, "'kl_weight' has an empty list"),
    ({"kl_weight": [0.1, 0.1]}, "'kl_weight' repeats a value"),
    ({"kl_weight": [0.01, -0.5]}, r"'kl_weight' = -0.5 is invalid: .*kl_weight"),
    ({"kl_weight": ["big"]}, "'kl_weight' takes numbers, got 'big'"),
    ({"reasoning_steps": [1, 2.5]}, "'reasoning_steps' takes integers, got 2.5"),
    ({"reasoning_steps": [True]}, "'reasoning_steps' takes integers"),
    ({"hidden_dim": [16, 15]}, "'hidden_dim' = 15 is invalid: .*divisible by num_heads"),
    ({"dropout": [1.0]}, "'dropout' = 1.0 is invalid"),
    ({"diversity": [1]}, "'diversity' takes strings"),
    ({"diversity": ["kl", "cosine"]}, "'diversity' = 'cosine' is invalid"),
    ({"diversity": {"min": 1, "max": 2}}, "'diversity' takes a list of values, not a range"),
    ({"learning_rate": {"min": 0.1}}, "needs 'min' and 'max'"),
    ({"learning_rate": {"min": 0.1, "max": 0.01}}, "needs min < max"),
    ({"learning_rate": {"min": 0.0, "max": 0.1}}, "'learning_rate' = 0.0 is invalid"),
    ({"dropout": {"min": 0.0, "max": 0.5, "sampling": "log"}}, "log sampling of 'dropout' needs min > 0"),
    ({"dropout": {"min": 0.1, "max": 0.5, "sampling": "cubic"}}, "sampling of 'dropout' must be one of"),
    ({"dropout": {"min": 0.1, "max": 0.5, "step": -1}}, "step of 'dropout' must be a positive number"),
    ({"num_layers": {"min": 1, "max": 4, "step": 1.5}}, "step of 'num_layers' must be an integer"),
    ([0.1, 0.2], "must be a mapping"),
])
def test_bad_spaces_name_the_problem(spec, message):
    with pytest.raises(SearchSpaceError, match=message):
        SearchSpace(spec, RunConfig(learning="erl"))


def test_empty_space_and_reasoning_steps_under_base():
    with pytest.raises(SearchSpaceError, match="empty"):
        SearchSpace({}, RunConfig(learning="erl"))
    with pytest.raises(SearchSpaceError, match="'reasoning_steps' only affects"):
        SearchSpace({"reasoning_steps": [1, 2]}, RunConfig(learning="base"))
    # The base model can still be tuned over what it has.
    assert SearchSpace({"dropout": [0.2, 0.5]}, RunConfig(learning="base")).names == ["dropout"]


@pytest.mark.parametrize("text, expected", [
    ("kl_weight=0.01,0.05", ("kl_weight", [0.01, 0.05])),
    ("kl-weight=0.01", ("kl_weight", 0.01)),
    ("reasoning_steps=1,2,3", ("reasoning_steps", [1, 2, 3])),
    ("learning_rate=1e-4:1e-2:log", ("learning_rate", {"min": 1e-4, "max": 1e-2, "sampling": "log"})),
    ("dropout=0.1:0.5:0.1", ("dropout", {"min": 0.1, "max": 0.5, "step": 0.1})),
    ("num_layers=1:3", ("num_layers", {"min": 1, "max": 3})),
    ("diversity=kl,js", ("diversity", ["kl", "js"])),
    ("temperature_decay=none", ("temperature_decay", None)),
])
def test_parse_space_flag(text, expected):
    assert parse_space_flag(text) == expected


@pytest.mark.parametrize("text, message", [
    ("kl_weight", "expects NAME=V1,V2"),
    ("kl_weight=", "expects NAME=V1,V2"),
    ("=0.1", "expects NAME=V1,V2"),
    ("klweight=0.1", "'klweight' cannot be tuned"),
    ("kl_weight=0.1,,0.2", "empty value"),
    ("kl_weight=0.1,abc", "'abc' is not a number"),
    ("dropout=0.1:0.2:0.3:0.4", "a range is MIN:MAX"),
])
def test_parse_space_flag_errors(text, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse_space_flag(text)
