"""Runs the distribution scripts of this directory in fresh processes.

Logical CPU devices (TensorFlow), host platform devices (JAX) and the
collective ops of MultiWorkerMirroredStrategy must be set up before the
backend initialises, so every check that needs them runs in its own
process and reports one JSON line.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
REPO = HERE.parents[1]


def script_env(backend="tensorflow", **extra):
    env = dict(os.environ)
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def run_script(name, *args, backend="tensorflow", timeout=900):
    """Runs `HERE/name` with `args`; returns its last stdout line as JSON."""
    proc = subprocess.run(
        [sys.executable, str(HERE / name), *map(str, args)],
        cwd=HERE, env=script_env(backend), capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="session")
def script_runner():
    return run_script


@pytest.fixture(scope="session")
def script_environment():
    return script_env


@pytest.fixture(scope="session")
def free_port_finder():
    return free_ports
