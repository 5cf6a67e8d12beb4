"""A private ``redis-server`` child for tests and benchmarks, optionally with its append-only file.

::

    with RedisServer(appendonly=True) as server:     # AOF on, fsync after every write
        url = server.url + "/0"                       # thinkwire serve --state URL

Debian's ``redis-server`` on a free loopback port, RDB snapshots off, data in a temporary
directory removed on close. ``pause()`` / ``resume()`` stop and continue it (SIGSTOP /
SIGCONT), to test an unresponsive store. ``appendonly``: the settings a deployment that must
not lose turns runs Redis with (``appendonly yes``, ``appendfsync always`` by default, or
``everysec``); every write then costs Redis an ``fsync``, so the durability tests measure the
gateway under the settings where losses would matter.

Only the gateway is killed in those tests, never Redis, so the data directory does not have to
outlive this object.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Literal

Fsync = Literal["always", "everysec", "no"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` on ``PATH``, or ``None`` (``apt-get install redis-server``)."""
    return shutil.which("redis-server")


class RedisServer:
    """A ``redis-server`` child process on ``127.0.0.1``; ``url`` is ``redis://127.0.0.1:PORT``."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        appendonly: bool = False,
        appendfsync: Fsync = "always",
        startup_timeout: float = 10.0,
    ) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        self.appendonly = appendonly
        self.appendfsync: Fsync | None = appendfsync if appendonly else None
        self._dir = tempfile.TemporaryDirectory(prefix="thinkwire-redis-")
        self.dir = self._dir.name
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if appendonly:
            args += ["--appendonly", "yes", "--appendfsync", appendfsync]
        else:
            args += ["--appendonly", "no"]
        self._proc = subprocess.Popen(
            [found, *args, "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._wait(startup_timeout)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        aof = f", appendfsync {self.appendfsync}" if self.appendonly else ""
        return f"RedisServer({self.url}{aof})"

    @property
    def description(self) -> str:
        """``redis (AOF, fsync always)`` or ``redis (no persistence)``: for reports."""
        return f"redis (AOF, fsync {self.appendfsync})" if self.appendonly else "redis (no persistence)"

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode} on port {self.port}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)

    def pause(self) -> None:
        """Stop the server without closing its socket (SIGSTOP): calls to it hang."""
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
