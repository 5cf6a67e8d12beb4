"""The client matrix: real client libraries, with their own tool loops, against thinkwire.

Each library in ``tests.support.client_loops`` runs one user turn that needs **two tool calls**
(the scripted model is started with ``--calls 2``: ``get_weather``, then ``get_time``, then
the answer), whole and streamed, against three targets:

- ``serve``: ``thinkwire serve --model scripted --calls 2``, a child process;
- ``gateway -> DeepSeek``: the gateway with its state in front of the strict DeepSeek emulator
  (Chat with ``reasoning_content``; it refuses a tool turn sent back without it);
- ``gateway -> Claude``: the same in front of the strict Anthropic emulator (signed thinking,
  refused when missing or altered).

The scripted model notes a code word only in its first thinking and quotes it in its answer
only if that thinking is still in what it sees after both tool steps. Each case asserts the
loop ran both tools and ended, every response on the wire was a 200, the answer quotes the code
word (thinking reached the model across two tool calls, whether the library kept it or the
state restored it), and no thinking shows in the visible answer.

The README's "Works with" table is generated from this matrix (``works_with``), and a test
keeps the two the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from tests.support.apps import sqlite_state, stateful_app
from tests.support.client_loops import LOOPS, Client
from tests.support.clients import Traffic
from tests.support.processes import serve_process, stop

from thinkwire.asgi.serving import serving
from thinkwire.emulators import emulating
from thinkwire.server.gateway import GatewayService
from thinkwire.upstreams.config import parse_config

README: Final = Path(__file__).resolve().parents[2] / "README.md"
TARGETS: Final = {
    "serve": ("thinkwire serve", "scripted"),
    "deepseek": ("gateway → DeepSeek", "deepseek-reasoner"),
    "anthropic": ("gateway → Claude", "claude-sonnet"),
}
"""Target id -> (column title, the model name clients ask for)."""
QUOTED: Final = re.compile(r"The code word I noted was [a-z]+-[0-9a-f]{4}\.")
REACT_AGENT_DEPRECATED: Final = (
    "ignore:create_react_agent has been moved:langgraph.warnings.LangGraphDeprecatedSinceV10"
)


pytestmark = pytest.mark.usefixtures("offline_clients")


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each target's ``/v1`` base URL, started once for the module."""
    home = tmp_path_factory.mktemp("matrix")
    process, served = serve_process(["--model", "scripted", "--calls", "2"], home=home / "serve")
    try:
        with emulating("deepseek", calls=2) as (deepseek, _), emulating("anthropic", calls=2) as (claude, _):
            upstreams = [
                {
                    "name": "deepseek",
                    "kind": "openai-chat",
                    "base_url": deepseek,
                    "profile": "deepseek",
                    "models": ["deepseek-*"],
                },
                {
                    "name": "claude",
                    "kind": "anthropic",
                    "base_url": claude,
                    "profile": "anthropic",
                    "models": ["claude-*"],
                },
            ]
            config = parse_config({"upstreams": upstreams})
            app, _ = stateful_app(GatewayService(config), sqlite_state(home / "state.db"))
            with serving(app) as gateway:
                yield {"serve": served + "/v1", "deepseek": gateway + "/v1", "anthropic": gateway + "/v1"}
    finally:
        err = stop(process)
        assert "Traceback" not in err, err


CASES: Final = [
    pytest.param(client, target, stream, id=f"{client.name}-{client.api}-{target}-{client.modes[stream]}")
    for client in LOOPS
    for target in TARGETS
    for stream in (False, True)
]


@pytest.mark.filterwarnings(REACT_AGENT_DEPRECATED)
@pytest.mark.parametrize(("client", "target", "stream"), CASES)
def test_the_client_keeps_its_thinking_across_two_tool_calls(
    request: pytest.FixtureRequest, targets: dict[str, str], client: Client, target: str, stream: bool
) -> None:
    if client.node:
        request.getfixturevalue("js_project")  # npm ci, once per session
    with Traffic(timeout=30) as traffic:
        outcome = client.loop(targets[target], TARGETS[target][1], traffic, stream=stream)
        statuses = [x.status for x in traffic.exchanges]
    assert outcome.ran == ["get_weather", "get_time"], outcome
    assert all(status == 200 for status in statuses), statuses
    assert QUOTED.search(outcome.answer), f"the model did not see its earlier thinking: {outcome.answer!r}"
    assert "I note the code word" not in outcome.answer  # no thinking shown as visible text
    assert "Step 1:" not in outcome.answer


def works_with() -> str:
    """The README's "Works with" table: one row per library and API, one column per target."""
    head = ["library", "API", "whole / streamed", *(title for title, _ in TARGETS.values())]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for client in LOOPS:
        modes = f"`{client.modes[0]}` / `{client.modes[1]}`"
        rows.append(f"| {client.name} | {client.api} | {modes} | " + " | ".join("✓" for _ in TARGETS) + " |")
    return "\n".join(rows)


def test_the_readme_works_with_table_is_this_matrix() -> None:
    assert works_with() in README.read_text(), f"README.md should hold this table:\n{works_with()}"
