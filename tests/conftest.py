"""Fixtures shared by the test folders (one conftest: mypy sees one module of that name).

``serve``: the real server on a scripted model, on a loopback port.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thinkwire.server.background import ScriptedServers


@pytest.fixture
def serve() -> Iterator[ScriptedServers]:
    servers = ScriptedServers()
    yield servers
    servers.close()
