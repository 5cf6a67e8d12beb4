"""Fixtures shared by the test folders (one conftest: mypy sees one module of that name).

``serve``: the real server on a scripted model, on a loopback port.
``emulate``: vendor emulators on loopback ports, stopped after the test.
``offline_clients``: environment for the real client libraries (no key, no tracing home).
``redis``: a private ``redis-server`` on a loopback port (skips when it is not installed).
``js_project``: ``tests/js`` (the Vercel AI SDK's npm project) with its locked ``node_modules``.
``apps_project``: ``tests/apps`` (the coding agents of the app matrix), installed.
``default_model``: the path of the pulled default model; skips the test when the model or the
runtime is missing (the tests marked ``model``).
``opened_options``: ``open_model`` records the options each call got and opens the scripted
model whatever the spec (for what a command passes on to the model it opens).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Final, NoReturn

import pytest

from tests.support.apps_cli import APPS_DIR
from tests.support.js import JS
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
def opened_options(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    from thinkwire.agent import models

    seen: list[dict[str, object]] = []
    real = models.open_model

    def opened(spec: str, **options: object) -> models.Model:
        seen.append(options)
        return real("scripted")

    monkeypatch.setattr(models, "open_model", opened)
    return seen


@pytest.fixture
def offline_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the real client libraries: a dummy OpenAI key, and no tracing or LangSmith calls
    home (the OpenAI Agents SDK's tracing is also switched off by its loops)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-not-used")
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer()
    try:
        yield server
    finally:
        server.close()


INSTALL_TIMEOUT: Final = 300.0
OFFLINE: Final = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network", re.I
)


def _unavailable(reason: str) -> NoReturn:
    """Skip for want of node, npm or the registry, except in CI (``$CI`` set), whose ``.ci/run``
    installs them: there it is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _npm_installed(folder: Path, command: list[str]) -> Path:
    """``folder`` after ``npm COMMAND`` there (its locked ``node_modules``)."""
    npm = shutil.which("npm")
    if npm is None:
        _unavailable(f"npm is needed for the tests that use {folder}")
    argv = [npm, *command, "--no-audit", "--no-fund", "--prefer-offline"]
    try:
        done = subprocess.run(
            argv, cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        _unavailable(f"npm {command[0]} in {folder} took over {INSTALL_TIMEOUT:.0f} s (no registry access?)")
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        if OFFLINE.search(output):
            _unavailable(f"npm {command[0]} in {folder} could not reach the registry:\n{output[-2000:]}")
        pytest.fail(f"npm {command[0]} in {folder} failed ({done.returncode}):\n{output[-4000:]}")
    return folder


@pytest.fixture(scope="session")
def js_project() -> Path:
    """``tests/js`` with its locked ``node_modules`` (``npm ci``, once per session). Where node,
    npm or the registry is missing the tests that need it are skipped, except in CI
    (``$CI`` set), whose ``.ci/run`` installs them: there it is a failure, not a skip."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node and npm are needed for the Vercel AI SDK tests (tests/js)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False)
    major = re.match(r"v(\d+)", version.stdout.strip())
    if major is None or int(major.group(1)) < 18:
        _unavailable(f"the AI SDK needs node >= 18, found {version.stdout.strip() or version.stderr.strip()}")
    return _npm_installed(JS, ["ci"])


@pytest.fixture(scope="session")
def apps_project() -> Path:
    """``tests/apps``, the coding agents of the app matrix, installed as ``.ci/run`` does
    (``npm install --no-save``: the registry lacks some of their optional platform packages,
    so ``npm ci`` refuses the lock); skipped or failed like ``js_project``."""
    return _npm_installed(APPS_DIR, ["install", "--no-save"])
