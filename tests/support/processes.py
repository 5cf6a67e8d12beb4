"""``thinkwire serve`` as a child process, the way a user starts it.

``serve_process(args, home)`` starts ``python -m thinkwire serve ARGS --port 0`` with
``THINKWIRE_HOME`` at ``home`` and returns the process and its base URL once it says where it
listens; ``stop(process)`` interrupts it (Ctrl-C) and waits.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
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
    environ = {**os.environ, "THINKWIRE_HOME": str(home), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "thinkwire", "serve", *args, "--port", "0", "--log-level", "warning"],
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
        if match := re.search(r"serving on (http://\S+)", line):
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    _, rest = process.communicate()
    seen.append(rest or "")
    raise AssertionError("thinkwire serve did not start:\n" + "".join(seen))


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """Interrupt ``process`` as Ctrl-C would, wait for it, and return what it wrote to stderr."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err or ""
