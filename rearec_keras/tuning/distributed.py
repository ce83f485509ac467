"""Distributed tuning on one machine: a chief and workers on loopback.

KerasTuner's chief/worker mode shares one oracle between processes: the
chief (`KERASTUNER_TUNER_ID=chief`) serves it over gRPC at
`KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`; each worker (`tuner0`,
`tuner1`, ...) asks it for trials, trains them and reports back. On a
cluster, start the same `rearec-keras tune` command on every machine with
those variables (or `--oracle HOST:PORT --tuner-id ID`) and a shared study
directory. `launch_local` does it with processes on 127.0.0.1.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from rearec_keras.experiments.runner import RunError
from rearec_keras.utils.validation import check_int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(tune_args, out_dir, num_workers=2, port=None, timeout=None, poll_seconds=1.0):
    """Runs `rearec-keras tune TUNE_ARGS --out OUT_DIR` as a chief and
    `num_workers` workers on 127.0.0.1 and waits for all of them.

    Each process logs to `OUT_DIR/logs/<tuner id>.log`. Returns the
    `{tuner_id: exit code}` of the processes (all 0 on success); raises
    `RunError` with the end of the first failing log otherwise, after
    stopping the others.
    """
    check_int("num_workers", num_workers, 1)
    out_dir = Path(out_dir)
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [sys.executable, "-m", "rearec_keras.cli", "tune", *tune_args, "--out", str(out_dir)]
    processes = {}
    try:
        for tuner_id in ["chief"] + [f"tuner{i}" for i in range(num_workers)]:
            env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1",
                       KERASTUNER_ORACLE_PORT=str(port), KERASTUNER_TUNER_ID=tuner_id)
            log = open(logs / f"{tuner_id}.log", "w")
            processes[tuner_id] = (subprocess.Popen(command, env=env, stdout=log,
                                                    stderr=subprocess.STDOUT), log)
        start = time.monotonic()
        while any(p.poll() is None for p, _ in processes.values()):
            failed = [t for t, (p, _) in processes.items() if p.poll() not in (None, 0)]
            if failed:
                break
            if timeout is not None and time.monotonic() - start > timeout:
                raise RunError(f"distributed study in {out_dir} did not finish in {timeout} s")
            time.sleep(poll_seconds)
        codes = {t: p.poll() for t, (p, _) in processes.items()}
        failed = [t for t, code in codes.items() if code not in (None, 0)]
        if failed:
            tail = (logs / f"{failed[0]}.log").read_text().strip().splitlines()[-15:]
            raise RunError(f"{failed[0]} exited with code {codes[failed[0]]}; end of its log:\n"
                           + "\n".join(tail))
        return codes
    finally:
        for process, log in processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
            log.close()
