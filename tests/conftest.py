"""Fixtures shared by the test folders (one conftest: mypy sees one module of that name).

``serve``: the real server on a scripted model, on a loopback port.
``emulate``: vendor emulators on loopback ports, stopped after the test.
``redis``: a private ``redis-server`` on a loopback port (skips when it is not installed).
``default_model``: the path of the pulled default model; skips the test when the model or the
runtime is missing (the tests marked ``model``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.redis import RedisServer, redis_server_binary
from tests.support.servers import ScriptedServers
from thinkwire.emulators.run import Emulate, emulating
from thinkwire.local.model_files import DEFAULT_MODEL, ModelStoreError, default_home, model_path


@pytest.fixture
def serve() -> Iterator[ScriptedServers]:
    servers = ScriptedServers()
    yield servers
    servers.close()


@pytest.fixture
def emulate(request: pytest.FixtureRequest) -> Iterator[Emulate]:
    """``emulate(vendor, break_case=None, secret=None)`` -> (base URL, app), stopped after the
    test; SDK clients the test module keeps in its ``OPEN`` list are closed first."""
    with ExitStack() as stack:
        yield lambda *args, **kw: stack.enter_context(emulating(*args, **kw))
        opened = getattr(request.module, "OPEN", [])
        while opened:
            opened.pop().close()


@pytest.fixture(scope="session")
def default_model() -> Path:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed (pip install 'thinkwire[local]')")
    try:
        return model_path(DEFAULT_MODEL, default_home())
    except ModelStoreError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer()
    try:
        yield server
    finally:
        server.close()
