"""Reading and writing the files of a run safely.

- `write_text_atomic`: written aside, then renamed, so that a kill mid-write
  leaves the old file or the new one, never half of one.
- `read_json`: a JSON file whose unreadable or corrupt content becomes one
  `CorruptFileError` naming the file, what is wrong and what to do.
- `RunLock`: an exclusive lock on a run directory held for a process's
  lifetime (`fcntl.flock`: the kernel drops it when the process dies, so a
  killed run never leaves a stale lock behind).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class CorruptFileError(RuntimeError):
    """A file of a run cannot be read (corrupt, truncated, unreadable)."""


class RunLockedError(RuntimeError):
    """Another live process holds a run directory's lock."""


def write_text_atomic(path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path, remedy: str, expect=dict):
    """The JSON value in `path` (of type `expect`).

    Raises:
        CorruptFileError: the file cannot be read, is not valid JSON or
            holds another type; the message names the file and `remedy`.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise CorruptFileError(f"{path} is not a text file (corrupt); {remedy}") from None
    except IsADirectoryError:
        raise CorruptFileError(f"{path} is a directory, expected a JSON file; {remedy}") from None
    except PermissionError:
        raise CorruptFileError(f"{path} cannot be read (permission denied)") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        what = "empty" if not text.strip() else f"not valid JSON ({e.msg} at line {e.lineno})"
        raise CorruptFileError(f"{path} is {what}; {remedy}") from None
    if expect is not None and not isinstance(value, expect):
        raise CorruptFileError(
            f"{path} holds a JSON {type(value).__name__}, expected a {expect.__name__}; {remedy}"
        )
    return value


class RunLock:
    """An exclusive, non-blocking lock on `directory/.lock`.

    `acquire()` raises `RunLockedError` naming the process that holds it.
    The file keeps the holder's pid and host for that message; the lock
    itself is the kernel's (released when the holder exits or is killed).
    Where `fcntl` is missing (Windows) the lock is a no-op.
    """

    def __init__(self, directory):
        self.path = Path(directory) / ".lock"
        self._file = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        if self._file is not None:
            return self
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunLockedError(
                f"run directory {self.path.parent} is in use by {holder}; wait for it to end "
                "or pass another --run-dir"
            ) from None
        import socket

        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
