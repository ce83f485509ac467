"""Training throughput of ours vs the two PyTorch ReaRec peers, interleaved.

Measures training examples/s (forward + backward + Adam step, full-catalog
softmax cross-entropy, batch 256, history length 50, ml-100k training rows,
one CPU thread per framework) of

* ours: `SASRec` (K=0), `ReaSASRec(learning="erl")` (K=2) and
  `ReaSASRec(learning="prl", noise_warmup_epochs=0)` (K=2, noisy twin on),
  trained with `model.fit` on the library's input pipeline (`make_dataset`)
  as in `benchmarks/training_throughput.py`;
* RecBole 3.0's `ReaRecModel` (`src/recbole3/model/rearec/`), built from a
  `ReaRecConfig` the way its trainer does (`_init_params(num_items)`) and
  stepped like `recbole3.trainer.Trainer.fit`:
  `outputs = model.forward(batch)`, `loss = model.compute_loss(batch, outputs)`,
  `loss.backward()`, `optimizer.step()` (Adam, lr 1e-3);
* the released code `TangJiakai/ReaRec` (`src/models/{ERL,PRL}.py`), built from
  an argparse namespace with its own defaults and stepped like its
  `BaseRunner.fit`: `out = model(batch, epoch=1)`, `loss = model.loss(out)`,
  `loss.backward()`, `optimizer.step()` (Adam over `customize_parameters()`).
  It runs twice for K=2: as released, and with its reasoning-step attention
  mask sliced to the new query row (a run-time patch in the worker process,
  `_patch_released_mask`; the peer's files stay untouched), which gives the
  same states (eval mode, max |diff| 2.4e-7 at d=64) without recomputing all
  L+k rows at every reasoning step. Its K=0 is `ERL` with `reason_step=0`
  trained on the CE of its prediction (its ERL loss is NaN at K=0).

Two rates per run: wall clock, and the worker process's CPU time over the
timed batches. On a core shared with other jobs the CPU-time rate is what one
unloaded core would give, and it is the primary table; the wall-clock table
carries the neighbours' load. Each worker prints the shape of its reasoning
states (K+1 per row; PRL's twin doubles the rows in the peers' layout) and
its first and last loss, so a crash or a NaN shows.

for d = 64 and 256 (FFN 300, 2 layers, 2 heads, dropout 0.5, attention
dropout 0.5, input dropout 0.2, tau 0.07 everywhere). Every (framework, model)
runs in its own subprocess with one thread (OMP/MKL/TF env vars,
`torch.set_num_threads(1)`, `tf.config.threading`), in rounds (round r: every
model of every framework once, d by d, model by model, framework by
framework); each run times `--batches` batches after `--warmup` batches and
the table reports the median over rounds.

The peers run in their own virtual environment (never a dependency of
rearec_keras) and never import rearec_keras or TensorFlow; the driver saves
the training slice to an .npz they read. Setup (CPU wheel of torch):

    python3 -m venv /tmp/peers/venv
    /tmp/peers/venv/bin/pip install "torch==2.13.0" numpy pandas pyyaml tqdm requests
    mkdir -p /tmp/peers/recbole3 /tmp/peers/released
    git --git-dir=<RecBole3.0 clone>/.git archive HEAD | tar -x -C /tmp/peers/recbole3
    git --git-dir=<ReaRec clone>/.git archive HEAD | tar -x -C /tmp/peers/released

Run (the machine's other load matters: pin to one core, compare in-run ratios):

    taskset -c 0 python benchmarks/peers.py [--rounds 3] [--warmup 8] [--batches 10] \\
        [--dims 64,256] [--peer-python /tmp/peers/venv/bin/python] \\
        [--recbole3-src /tmp/peers/recbole3/src] [--released-src /tmp/peers/released/src] \\
        [--out benchmarks/results/peers_ml100k.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
BATCH_SIZE = 256
LENGTH = 50
FFN = 300  # our intermediate_dim default (rearec_keras.model_settings)
VARIANTS = ("k0", "erl", "prl")
VARIANT_NAMES = {"k0": "SASRec K=0", "erl": "ERL K=2", "prl": "PRL K=2 (twin on)"}
IMPLS = ("ours", "recbole3", "released", "released_fix")


def _one_thread_env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    return env


# ---------------------------------------------------------------------------
# Data shared with the workers
# ---------------------------------------------------------------------------

def load_peer_batches(path, warmup, batches):
    """The .npz slice as numpy arrays: our ids (0 = pad, items 1..N)."""
    import numpy as np

    with np.load(path) as f:
        hist, tgt, num_items = f["histories"], f["targets"], int(f["num_items"])
    n = (warmup + batches) * BATCH_SIZE
    assert len(hist) >= n, (len(hist), n)
    return hist[:n], tgt[:n], num_items


def _result(impl, variant, dim, times, cpu, losses, states_shape, extra=None):
    """`times`: wall seconds of the timed batches; `cpu`: this process's CPU
    seconds over them (all its threads). On a core shared with other jobs the
    CPU-time rate is what one unloaded core would give; the wall rate also
    carries the neighbours' load."""
    examples = BATCH_SIZE * len(times)
    out = {
        "impl": impl, "variant": variant, "dim": dim,
        "batch_seconds": times, "cpu_seconds": cpu,
        "examples_per_s": examples / sum(times),
        "cpu_examples_per_s": examples / cpu,
        "first_loss": losses[0], "last_loss": losses[-1],
        "finite": all(v == v and abs(v) != float("inf") for v in losses),
        "states_shape": states_shape,
    }
    out.update(extra or {})
    return out


# ---------------------------------------------------------------------------
# Worker: ours (TensorFlow backend)
# ---------------------------------------------------------------------------

def worker_ours(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    from rearec_keras.models import ReaSASRec
    from rearec_keras.models import SASRec

    hist, tgt, num_items = load_peer_batches(args.data, args.warmup, args.batches)
    keras.utils.set_random_seed(0)
    common = dict(hidden_dim=args.dim, intermediate_dim=FFN, num_layers=2, num_heads=2)
    if args.variant == "k0":
        model = SASRec(num_items, **common)
    elif args.variant == "erl":
        model = ReaSASRec(num_items, learning="erl", reasoning_steps=2, **common)
    else:
        model = ReaSASRec(num_items, learning="prl", reasoning_steps=2,
                          noise_warmup_epochs=0, **common)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    from rearec_keras.data.pipeline import make_dataset

    w = args.warmup * BATCH_SIZE
    # The library's own input pipeline (what `rearec-keras train` feeds), in
    # a fixed order. Warm-up: tracing, allocation, oneDNN kernels. Then one
    # timed fit over the timed rows (as training_throughput.py times it:
    # fit's fixed setup is included once); the per-batch split is not
    # available without a callback, so `batch_seconds` holds the one total.
    warm = make_dataset(hist[:w], tgt[:w], batch_size=BATCH_SIZE)
    timed = make_dataset(hist[w:], tgt[w:], batch_size=BATCH_SIZE)
    losses = [float(model.fit(warm, epochs=1, verbose=0).history["loss"][-1])]
    start, cpu0 = time.perf_counter(), time.process_time()
    h = model.fit(timed, epochs=1, verbose=0)
    times = [time.perf_counter() - start]
    cpu = time.process_time() - cpu0
    losses.append(float(h.history["loss"][-1]))
    out = model(hist[:8], training=True)
    states = tuple(int(v) for v in out["states"].shape)
    extra = {"noise_active": bool(model.noise_active),
             "noisy_states_shape": (tuple(int(v) for v in out["noisy_states"].shape)
                                    if "noisy_states" in out else None),
             "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                         tf.config.threading.get_inter_op_parallelism_threads()]}
    out = _result("ours", args.variant, args.dim, times, cpu, losses, states, extra)
    out["examples_per_s"] = BATCH_SIZE * args.batches / times[0]
    out["cpu_examples_per_s"] = BATCH_SIZE * args.batches / cpu
    return out


# ---------------------------------------------------------------------------
# Workers: the PyTorch peers (their own venv; no rearec_keras, no TensorFlow)
# ---------------------------------------------------------------------------

def _torch_one_thread():
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    return torch


def _to_peer_ids(torch, hist, tgt, num_items):
    """Our ids (0 = pad, items 1..N) -> the peers' (items 0..N-1, pad = N, left-padded)."""
    hist = torch.as_tensor(hist, dtype=torch.long)
    lengths = (hist > 0).sum(dim=1)
    ids = torch.where(hist > 0, hist - 1, torch.full_like(hist, num_items))
    return ids, lengths, torch.as_tensor(tgt, dtype=torch.long) - 1


def _time_steps(torch, step, n_warm, n_timed):
    losses, times, cpu = [], [], 0.0
    for b in range(n_warm + n_timed):
        start, cpu0 = time.perf_counter(), time.process_time()
        loss = step(b)
        if b >= n_warm:
            times.append(time.perf_counter() - start)
            cpu += time.process_time() - cpu0
        if b == 0 or b >= n_warm:
            losses.append(float(loss))
    return times, cpu, losses


def worker_recbole3(args):
    torch = _torch_one_thread()
    import types

    src = args.recbole3_src
    sys.path.insert(0, src)
    import recbole3  # noqa: F401  (the package's own __init__ imports nothing)

    # `recbole3/model/__init__.py` imports every model of the zoo (sklearn,
    # transformers, ...). Register the package without running it so only
    # the ReaRec modules and what they import are loaded.
    pkg = types.ModuleType("recbole3.model")
    pkg.__path__ = [os.path.join(src, "recbole3", "model")]
    sys.modules["recbole3.model"] = pkg
    from recbole3.dataset import ITEM_ID
    from recbole3.model.rearec.config import ReaRecConfig
    from recbole3.model.rearec.model import ReaRecModel
    from recbole3.model.sequential import HISTORY_ITEM_IDS

    hist, tgt, num_items = load_peer_batches(args.data, args.warmup, args.batches)
    ids, lengths, targets = _to_peer_ids(torch, hist, tgt, num_items)
    # K=0: reason_step=0 (no reasoning embedding, no noise; ERL's KL term is
    # skipped for T=1, so the loss is the plain CE on r_0).
    config = ReaRecConfig(
        name="rearec", backbone="sasrec", history_max_length=LENGTH,
        embedding_dim=args.dim, num_layers=2, num_heads=2, inner_size=FFN,
        hidden_act="gelu", layer_norm_eps=1e-12, dropout=0.5, wrapper_dropout=0.2,
        initializer_range=0.02,
        learning_strategy="prl" if args.variant == "prl" else "erl",
        reason_step=0 if args.variant == "k0" else 2,
        temperature=0.07, kl_weight=0.05, pl_weight=1.0, temp_scale=5.0,
        noise_factor=0.01, cl_weight=1.0, warmup_epochs=0, loss_type="ce",
    )
    model = ReaRecModel(config)
    model._init_params(num_items)  # what ensure_initialized / build_*_collator do
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def batch(b):
        sl = slice(b * BATCH_SIZE, (b + 1) * BATCH_SIZE)
        return {HISTORY_ITEM_IDS: ids[sl], "history_lengths": lengths[sl], ITEM_ID: targets[sl]}

    shapes = {}

    def step(b):
        feed = batch(b)
        optimizer.zero_grad()
        outputs = model.forward(feed)
        shapes.setdefault("out", tuple(outputs["model_output"].shape))
        loss = model.compute_loss(feed, outputs)
        loss.backward()
        optimizer.step()
        return loss.detach()

    times, cpu, losses = _time_steps(torch, step, args.warmup, args.batches)
    extra = {"noise_factor_used": model._effective_noise_factor(),
             "threads": [torch.get_num_threads(), torch.get_num_interop_threads()],
             "torch": torch.__version__}
    return _result("recbole3", args.variant, args.dim, times, cpu, losses, shapes["out"], extra)


def _patch_released_mask(layers):
    """The released `ReaRecAutoRegressiveWrapper` builds a `[B, 1, L+k, L+k]`
    mask at reasoning step k while the query is the single new slot: the
    `[B, H, 1, L+k]` scores broadcast against it, so attention output, output
    projection, LayerNorm and FFN run over L+k rows whose last row is the
    right one (the result is unchanged, the work is ~(L+k)x). Patch: slice
    the mask to the query rows (`mask[:, :, -q:, :]`) inside the attention."""
    forward = layers.MultiHeadAttention.forward

    def sliced(self, input_tensor, attention_mask, kv_cache=None):
        q = input_tensor.shape[1]
        return forward(self, input_tensor, attention_mask[:, :, -q:, :], kv_cache)

    layers.MultiHeadAttention.forward = sliced


def worker_released(args):
    torch = _torch_one_thread()
    import types

    sys.path.insert(0, args.released_src)
    # utils/utils.py imports `openai` for an LLM helper the models never call.
    try:
        import openai  # noqa: F401
    except ImportError:
        sys.modules["openai"] = types.ModuleType("openai")
    from models.ERL import ERL
    from models.PRL import PRL
    from utils import layers

    fix = args.worker == "released_fix"
    if fix:
        _patch_released_mask(layers)
    shapes = []
    attn = layers.MultiHeadAttention.forward

    def spy(self, x, mask, kv=None):  # (query, mask as the wrapper built it, output) shapes
        out = attn(self, x, mask, kv)
        if len(shapes) < 2 * 3:
            shapes.append([list(x.shape), list(mask.shape), list(out[0].shape)])
        return out

    layers.MultiHeadAttention.forward = spy

    hist, tgt, num_items = load_peer_batches(args.data, args.warmup, args.batches)
    ids, lengths, targets = _to_peer_ids(torch, hist, tgt, num_items)
    # Its reader: n_items = max id + 2, the last row is PAD (= num_items here).
    corpus = types.SimpleNamespace(n_users=944, n_items=num_items + 1)
    ns = dict(emb_size=args.dim, num_layers=2, num_heads=2, inner_size=FFN, dropout=0.5,
              hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=0.02,
              temperature=0.07, reason_step=0 if args.variant == "k0" else 2,
              device=torch.device("cpu"), model_path="", buffer=1, test_all=1)
    if args.variant == "prl":
        # warmup=0 and epoch=1: noise from the first epoch (its warm-up > 0
        # leaves `cl_loss` unbound).
        ns.update(pl_weight=1.0, temp_scale=5.0, noise_factor=0.01, cl_weight=1.0, warmup=0)
        model = PRL(types.SimpleNamespace(**ns), corpus)
    else:
        # K=0: the released code has no separate base model; ERL with
        # reason_step=0 runs the plain SASRec forward (mean over one state).
        ns.update(el_weight=0.0, warmup=2, kl_weight=0.05)
        model = ERL(types.SimpleNamespace(**ns), corpus)
    model.train()
    optimizer = torch.optim.Adam(model.customize_parameters(), lr=1e-3, weight_decay=0)
    out_shape = {}

    def step(b):
        sl = slice(b * BATCH_SIZE, (b + 1) * BATCH_SIZE)
        feed = {"history_id": ids[sl], "item_seq_len": lengths[sl], "item_id": targets[sl]}
        optimizer.zero_grad()
        out = model(feed, epoch=1)
        layers.MultiHeadAttention.forward = attn  # the spy only watches the first batch
        out_shape.setdefault("out", tuple(out["model_output"].shape))
        if args.variant == "k0":
            # Its ERL loss at K=0 averages the pairwise KL over an empty set
            # (NaN); the K=0 objective is the CE on the prediction it returns.
            loss = model.loss_fct(out["prediction"], out["item_id"])
        else:
            loss = model.loss(out)
        loss.backward()
        optimizer.step()
        return loss.detach()

    times, cpu, losses = _time_steps(torch, step, args.warmup, args.batches)
    extra = {"attention_shapes_first_step": shapes, "mask_patched": fix,
             "threads": [torch.get_num_threads(), torch.get_num_interop_threads()]}
    return _result(args.worker, args.variant, args.dim, times, cpu, losses, out_shape["out"], extra)


WORKERS = {"ours": worker_ours, "recbole3": worker_recbole3,
           "released": worker_released, "released_fix": worker_released}


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def save_slice(path, warmup, batches):
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    import numpy as np

    from rearec_keras import data
    from rearec_keras.datasets import load_movielens

    split = data.leave_one_out(load_movielens("ml-100k"), max_length=LENGTH)
    n = (warmup + batches) * BATCH_SIZE
    np.savez(path, histories=split.train.histories[:n], targets=split.train.targets[:n],
             num_items=split.num_items)
    return split.num_items


def run_worker(args, impl, variant, dim, data_path):
    python = sys.executable if impl == "ours" else args.peer_python
    cmd = [python, HERE, "--worker", impl, "--variant", variant, "--dim", str(dim),
           "--data", data_path, "--warmup", str(args.warmup), "--batches", str(args.batches),
           "--recbole3-src", args.recbole3_src, "--released-src", args.released_src]
    proc = subprocess.run(cmd, env=_one_thread_env(), capture_output=True, text=True,
                          cwd=os.path.dirname(HERE))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout)[-1500:]
        print(f"  !! {impl} {variant} d={dim} failed (rc {proc.returncode}):\n{tail}",
              file=sys.stderr, flush=True)
        return None
    return json.loads(lines[-1])


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def fmt(v):
    return "—" if v is None else f"{v:,.0f}"


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}x"


def driver(args):
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # workers inherit it
    dims = [int(v) for v in args.dims.split(",")]
    impls = [i for i in IMPLS if i in args.impls.split(",")]
    command = "python " + " ".join([os.path.relpath(HERE)] + sys.argv[1:])
    print(f"command: {command}")
    print(f"affinity: cpus {sorted(os.sched_getaffinity(0))}; before: {uptime()}", flush=True)
    samples = {}  # (dim, variant, impl) -> list of results
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "ml100k_train_slice.npz")
        num_items = save_slice(data_path, args.warmup, args.batches)
        print(f"ml-100k: {num_items} items; slice: {args.warmup} warm-up + {args.batches} timed "
              f"batches of {BATCH_SIZE}", flush=True)
        loads = [uptime()]
        for r in range(args.rounds):
            for dim in dims:
                for variant in VARIANTS:
                    for impl in impls:
                        if impl == "released_fix" and variant == "k0":
                            continue  # no reasoning step: identical to `released`
                        res = run_worker(args, impl, variant, dim, data_path)
                        samples.setdefault((dim, variant, impl), []).append(res)
                        if res is not None:
                            extra = ""
                            if r == 0:
                                extra = (f" states={res['states_shape']}"
                                         f" loss {res['first_loss']:.3f}->{res['last_loss']:.3f}")
                            print(f"round {r + 1} d={dim} {variant:3s} {impl:12s} "
                                  f"{res['examples_per_s']:6.0f} ex/s wall "
                                  f"{res['cpu_examples_per_s']:6.0f} ex/s cpu{extra}"
                                  + ("" if res["finite"] else "  NON-FINITE LOSS"), flush=True)
            loads.append(uptime())
            print(f"after round {r + 1}: {loads[-1]}", flush=True)

    def median(key, metric):
        vals = [s[metric] for s in samples.get(key, []) if s is not None]
        return statistics.median(vals) if vals else None

    tables = {}
    for metric, title in (
        ("cpu_examples_per_s", "by each worker's process CPU time over the timed batches "
         "(primary: what one unloaded core gives; the core is shared)"),
        ("examples_per_s", "by wall clock (carries the shared core's load)"),
    ):
        print()
        print(f"command: {command}")
        print(f"median examples/s over {args.rounds} rounds, {title}; {args.batches} timed "
              f"batches of {BATCH_SIZE} after {args.warmup} warm-up; one thread each; cpus "
              f"{sorted(os.sched_getaffinity(0))}")
        print()
        print("| d | model | ours ex/s | RecBole 3.0 ex/s | released ex/s | released, mask "
              "patched ex/s | ours/RecBole | ours/released | ours/released patched |")
        print("|---|---|---|---|---|---|---|---|---|")
        table = tables[metric] = []
        for dim in dims:
            for variant in VARIANTS:
                ours = median((dim, variant, "ours"), metric)
                rb = median((dim, variant, "recbole3"), metric)
                rel = median((dim, variant, "released"), metric)
                fix = rel if variant == "k0" else median((dim, variant, "released_fix"), metric)
                table.append({"dim": dim, "model": VARIANT_NAMES[variant], "ours": ours,
                              "recbole3": rb, "released": rel, "released_mask_patched": fix})
                same = " (=)" if variant == "k0" and fix is not None else ""
                print(f"| {dim} | {VARIANT_NAMES[variant]} | {fmt(ours)} | {fmt(rb)} | "
                      f"{fmt(rel)} | {fmt(fix)}{same} | {ratio(ours, rb)} | {ratio(ours, rel)} "
                      f"| {ratio(ours, fix)} |")
    print()
    for line in loads:
        print(f"load: {line}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": command, "rounds": args.rounds, "warmup": args.warmup,
                       "batches": args.batches, "batch_size": BATCH_SIZE,
                       "cpus": sorted(os.sched_getaffinity(0)), "uptime": loads,
                       "tables": tables,
                       "samples": [{"dim": k[0], "variant": k[1], "impl": k[2], "runs": v}
                                   for k, v in samples.items()]}, f, indent=1)
        print(f"wrote {args.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=8, help="untimed batches per run")
    p.add_argument("--batches", type=int, default=10, help="timed batches per run")
    p.add_argument("--dims", default="64,256")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--cpu", type=int, default=None,
                   help="pin the driver and its workers to this core (or run under taskset)")
    p.add_argument("--peer-python", default="/tmp/peers/venv/bin/python")
    p.add_argument("--recbole3-src", default="/tmp/peers/recbole3/src")
    p.add_argument("--released-src", default="/tmp/peers/released/src")
    p.add_argument("--out", default=None, help="write the samples and table as JSON")
    # worker mode
    p.add_argument("--worker", choices=sorted(WORKERS), default=None)
    p.add_argument("--variant", choices=VARIANTS, default="k0")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--data", default=None)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)), flush=True)
    else:
        driver(args)


if __name__ == "__main__":
    main()
