"""Reloads SavedModels in a fresh process with TensorFlow alone.

    python _reload.py JOBS.json OUT.npz

Each job: {"name", "path", "kind": "export" | "tfrs", "histories": [[...]],
"ks": [...]}. Writes, per job, `NAME/top_k/K/ids` (and `scores`), the
same for `top_k_unseen` and, for exports, `NAME/encode` and
`NAME/item_vectors`; `NAME/signatures` lists the signature names, and
`rearec_keras_imported` whether loading pulled in this package (it must
not: an export stands alone).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(jobs_path, out_path):
    out = {}
    for job in json.loads(open(jobs_path).read()):
        name = job["name"]
        loaded = tf.saved_model.load(job["path"])
        histories = tf.constant(np.asarray(job["histories"], np.int32))
        out[f"{name}/signatures"] = np.array(sorted(loaded.signatures.keys()))
        for endpoint in ("top_k", "top_k_unseen"):
            for k in job["ks"]:
                result = getattr(loaded, endpoint)(histories, tf.constant(k, tf.int32))
                for key in ("ids", "scores"):
                    out[f"{name}/{endpoint}/{k}/{key}"] = result[key].numpy()
            # The signature (what TF Serving calls) gives the same answer.
            k = job["ks"][0]
            result = loaded.signatures[endpoint](histories=histories, k=tf.constant(k, tf.int32))
            out[f"{name}/signature/{endpoint}/{k}/ids"] = result["ids"].numpy()
        if job["kind"] == "export":
            out[f"{name}/encode"] = loaded.encode(histories).numpy()
            out[f"{name}/item_vectors"] = loaded.item_vectors().numpy()
    out["rearec_keras_imported"] = np.array("rearec_keras" in sys.modules)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
