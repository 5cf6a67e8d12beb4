"""Fixtures shared by the test folders (one conftest: mypy sees one module of that name).

``serve``: the real server on a scripted model, on a loopback port.
``emulate``: vendor emulators on loopback ports, stopped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from thinkwire.emulators.run import Emulate, emulating
from thinkwire.server.background import ScriptedServers


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
