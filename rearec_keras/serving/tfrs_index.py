"""A TensorFlow Recommenders top-k index built from a serving export.

TFRS 0.7 needs legacy Keras: `TF_USE_LEGACY_KERAS=1` must be set before
TensorFlow is imported, and its layers do not mix with Keras 3 models. So
the index is built in a process of its own, from what `export_serving`
wrote: the query model is the export's `encode` endpoint and the candidates
are its item vectors, rows 1..num_items with their ids (padding is not a
candidate). Kinds:

* `"brute_force"`: `tfrs.layers.factorized_top_k.BruteForce`, the item
  table held as a variable, one matmul + top-k.
* `"streaming"`: `tfrs.layers.factorized_top_k.Streaming`, the candidates
  streamed from a `tf.data` pipeline in batches of `batch_size` (for
  catalogs too large for one score matrix).

The saved index is a SavedModel with the signatures `top_k(histories, k)`
and `top_k_unseen(histories, k)` (TFRS's `query_with_exclusions` with the
history as exclusions), each returning `{"ids", "scores"}` best first, the
same items as the export's endpoints (equal scores: lower id first).
`histories` is int32 `[batch, max_length]`; `k` is a scalar in
`1..max_k`, and for `top_k_unseen` also `k + max_length <= num_items`
(TFRS ranks `k + max_length` candidates before dropping the excluded).
`tfrs_index.json` next to it records the kind and the export it came from.

Library:

```python
from rearec_keras.serving import build_tfrs_index
build_tfrs_index("exports/sasrec-prl", "exports/sasrec-prl-tfrs", kind="brute_force")
```

Command line (sets `TF_USE_LEGACY_KERAS=1` itself):

    python -m rearec_keras.serving.tfrs_index EXPORT_DIR OUT_DIR [--kind streaming]

Needs `pip install "rearec-keras[tfrs]"` (tensorflow-recommenders, tf-keras).
This module imports neither TensorFlow nor TFRS until the child process
builds the index.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

KINDS = ("brute_force", "streaming")
INDEX_JSON = "tfrs_index.json"
# Exit status of the child when tensorflow-recommenders cannot be imported.
EXIT_MISSING_PACKAGE = 3


def build_tfrs_index(export_dir, out_dir, kind: str = "brute_force", *, batch_size: int = 1024,
                     overwrite: bool = False, timeout: float | None = None) -> Path:
    """Builds and saves a TFRS index from an `export_serving` directory.

    Runs `python -m rearec_keras.serving.tfrs_index` in a child process with
    `TF_USE_LEGACY_KERAS=1` (the calling process may already run Keras 3).

    Args:
        export_dir: a directory written by `export_serving`.
        out_dir: where the index SavedModel and `tfrs_index.json` go.
        kind: `"brute_force"` or `"streaming"`.
        batch_size: candidates per batch of the streaming index.
        overwrite: replace an earlier index at `out_dir`.
        timeout: seconds the child may run (None: no limit).

    Returns:
        `out_dir` as a `Path`.

    Raises:
        ValueError: unknown `kind`, bad `batch_size`, `export_dir` is not an
            export, or `out_dir` is occupied.
        ImportError: tensorflow-recommenders is not installed.
        RuntimeError: the child process failed (its last error line).
    """
    _check_args(export_dir, out_dir, kind, batch_size, overwrite)
    command = [sys.executable, "-m", "rearec_keras.serving.tfrs_index", str(export_dir),
               str(out_dir), "--kind", kind, "--batch-size", str(batch_size)]
    if overwrite:
        command.append("--overwrite")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode == EXIT_MISSING_PACKAGE:
        raise ImportError(_last_line(result.stderr))
    if result.returncode != 0:
        raise RuntimeError(f"building the TFRS {kind} index failed (exit {result.returncode}): "
                           f"{_last_line(result.stderr)}")
    return Path(out_dir)


def _last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def _check_args(export_dir, out_dir, kind, batch_size, overwrite):
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {list(KINDS)}. Received: kind={kind!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an int >= 1. Received: batch_size={batch_size!r}")
    from rearec_keras.serving.export import SERVING_JSON

    if not (Path(export_dir) / SERVING_JSON).exists():
        raise ValueError(f"{export_dir} is not a serving export (no {SERVING_JSON}); "
                         "write one with export_serving or `rearec-keras export`")
    out = Path(out_dir)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not overwrite:
            raise ValueError(f"{out} already exists; pass overwrite=True (--overwrite) to replace "
                             "an earlier index")
        if not (out / INDEX_JSON).exists():
            raise ValueError(f"{out} exists and is not an earlier TFRS index (no {INDEX_JSON}); "
                             "refusing to replace it")


# ----------------------------------------------------------------------
# The child process (legacy Keras).


def _write_index(export_dir, out_dir, kind, batch_size):
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    from rearec_keras.serving.export import SERVING_JSON

    export_dir, out_dir = Path(export_dir), Path(out_dir)
    info = json.loads((export_dir / SERVING_JSON).read_text())
    num_items, length, max_k = info["num_items"], info["max_length"], info["max_k"]
    exported = tf.saved_model.load(str(export_dir))

    class EncodeQuery(tf.keras.Model):
        """The export's `encode` endpoint as a (legacy Keras) query model."""

        def __init__(self, endpoints, **kwargs):
            super().__init__(**kwargs)
            self.endpoints = endpoints

        def call(self, histories):
            return self.endpoints.encode(histories)

        def get_config(self):
            return {}

    query_model = EncodeQuery(exported, name="encode")
    candidates = exported.item_vectors()[1:]
    ids = tf.range(1, num_items + 1, dtype=tf.int32)
    if kind == "brute_force":
        index = tfrs.layers.factorized_top_k.BruteForce(query_model, k=min(10, max_k))
        index.index(candidates, ids)
    else:
        index = tfrs.layers.factorized_top_k.Streaming(query_model, k=min(10, max_k))
        index.index_from_dataset(
            tf.data.Dataset.from_tensor_slices((ids, candidates)).batch(batch_size))

    histories_spec = tf.TensorSpec([None, length], tf.int32, name="histories")
    k_spec = tf.TensorSpec([], tf.int32, name="k")

    def checked_k(k, extra=0, what=""):
        asserts = [
            tf.debugging.assert_greater_equal(k, 1, message=f"k must be in 1..{max_k}"),
            tf.debugging.assert_less_equal(k, max_k, message=f"k must be in 1..{max_k}"),
        ]
        if extra:
            asserts.append(tf.debugging.assert_less_equal(
                k + extra, num_items,
                message=f"{what}k + max_length ({length}) must be at most num_items ({num_items})"))
        with tf.control_dependencies(asserts):
            return tf.identity(k)

    class TfrsServing(tf.Module):
        def __init__(self, index):
            super().__init__(name="tfrs_serving")
            self.index = index

        @tf.function(input_signature=[histories_spec, k_spec])
        def top_k(self, histories, k):
            scores, top = self.index(histories, k=checked_k(k))
            return {"ids": top, "scores": scores}

        @tf.function(input_signature=[histories_spec, k_spec])
        def top_k_unseen(self, histories, k):
            k = checked_k(k, extra=length, what="top_k_unseen: ")
            scores, top = self.index.query_with_exclusions(histories, histories, k=k)
            return {"ids": top, "scores": scores}

    module = TfrsServing(index)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tf.saved_model.save(module, str(out_dir), signatures={
        "serving_default": module.top_k, "top_k": module.top_k,
        "top_k_unseen": module.top_k_unseen})
    (out_dir / INDEX_JSON).write_text(json.dumps({
        "kind": kind,
        "tfrs_layer": type(index).__name__,
        "export": str(export_dir.resolve()),
        "num_items": num_items,
        "max_length": length,
        "max_k": max_k,
        "batch_size": batch_size if kind == "streaming" else None,
        "signatures": ["top_k", "top_k_unseen"],
        "tensorflow_recommenders_version": getattr(tfrs, "__version__", None),
    }, indent=2) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m rearec_keras.serving.tfrs_index",
        description="Build a TensorFlow Recommenders top-k index from a rearec-keras export.")
    parser.add_argument("export_dir", help="directory written by export_serving / rearec-keras export")
    parser.add_argument("out_dir", help="where the index SavedModel goes")
    parser.add_argument("--kind", choices=KINDS, default="brute_force")
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="candidates per batch of the streaming index")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        print("error: TensorFlow was imported before TF_USE_LEGACY_KERAS=1 could be set; "
              "build the index in a fresh process (build_tfrs_index does)", file=sys.stderr)
        return 2
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        _check_args(args.export_dir, args.out_dir, args.kind, args.batch_size, args.overwrite)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        import tensorflow_recommenders  # noqa: F401
    except ImportError as e:
        print(f"error: the TFRS index needs tensorflow-recommenders and tf-keras "
              f"(pip install 'rearec-keras[tfrs]'): {e}", file=sys.stderr)
        return EXIT_MISSING_PACKAGE
    _write_index(args.export_dir, args.out_dir, args.kind, args.batch_size)
    print(f"wrote a TFRS {args.kind} index to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
