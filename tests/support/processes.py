"""``thinkwire serve`` and ``thinkwire emulate`` as child processes, the way a user starts them.

``serve_process(args, home)`` starts ``python -m thinkwire serve ARGS --port 0`` with
``THINKWIRE_HOME`` at ``home`` and returns the process and its base URL once it says where it
listens; ``emulate_process(args, home)`` does the same for ``thinkwire emulate ARGS --port 0``;
``stop(process)`` interrupts it (Ctrl-C), waits, and returns all it wrote to stderr (read as
it comes, so a child that logs a line per request never blocks on a full pipe). ``rss(pid)``
is a process's resident memory in bytes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def serve_process(
    args: Sequence[str],
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[str], str]:
    """A ``thinkwire serve`` child on a free loopback port, and its base URL."""
    command = ["serve", *args, "--port", "0", "--log-level", "warning"]
    return _listening(command, r"serving on (http://\S+)", home, env, timeout)


def emulate_process(
    args: Sequence[str],
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[str], str]:
    """A ``thinkwire emulate`` child on a free loopback port, and its base URL."""
    command = ["emulate", *args, "--port", "0"]
    return _listening(command, r"Uvicorn running on (http://\S+)", home, env, timeout)


def _listening(
    command: Sequence[str], listens: str, home: Path, env: Mapping[str, str] | None, timeout: float
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m thinkwire COMMAND`` and wait for the stderr line ``listens`` matches
    (its group: the base URL)."""
    environ = {**os.environ, "THINKWIRE_HOME": str(home), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "thinkwire", *command],
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if match := re.search(listens, line):
            # read on from now on, so a chatty child never blocks on a full stderr pipe
            reader = threading.Thread(target=seen.extend, args=(process.stderr,), daemon=True)
            reader.start()
            _OUTPUT[process.pid] = (seen, reader)
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    _, rest = process.communicate()
    seen.append(rest or "")
    raise AssertionError(f"thinkwire {command[0]} did not start:\n" + "".join(seen))


_OUTPUT: dict[int, tuple[list[str], threading.Thread]] = {}
"""Each started process's stderr lines, by pid, and the thread that reads them as they come."""


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """Interrupt ``process`` as Ctrl-C would, wait for it, and return all it wrote to stderr,
    from its start."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    lines, reader = _OUTPUT.pop(process.pid, ([], None))
    if reader is not None:
        reader.join(timeout)
    if process.stderr is not None:
        process.stderr.close()
    return "".join(lines)


def rss(pid: int) -> int:
    """Resident bytes of process ``pid`` (``VmRSS`` in ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
