"""A real uvicorn server on a loopback port, in a thread, for the SDK tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from thinkwire.local.engine import LocalEngine
from thinkwire.local.scripted import ScriptedRuntime, scripted_engine
from thinkwire.server import EngineService, ServerState, create_app

SECRET = b"s" * 32
CALL = (
    'I need the weather for {city}, so I call the tool.\n</think>\n<tool_call>\n{{"name": "get_weather", '
    '"arguments": {{"city": "{city}"}}}}\n</tool_call>'
)
ANSWER = "The tool says {city} is sunny, so I can answer.\n</think>\nIt is sunny in {city}."
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 at a free port; yields the base URL (``http://127.0.0.1:PORT``)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


Serve = Callable[..., tuple[str, ScriptedRuntime, LocalEngine]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(script, slots=1, max_queue=16, delay=0.0, carrier=..., **engine)`` -> (base URL,
    runtime, engine): a scripted model behind the real server."""
    with_stack: list[Any] = []

    def start(
        script: Sequence[str] | Callable[[str], str],
        *,
        slots: int = 1,
        max_queue: int = 16,
        delay: float = 0.0,
        state: dict[str, Any] | None = None,
        **engine: Any,
    ) -> tuple[str, ScriptedRuntime, LocalEngine]:
        built, runtime = scripted_engine(script, delay=delay, slots=slots, secret=SECRET, **engine)
        service = EngineService(built, slots=slots, max_queue=max_queue)
        app = create_app(ServerState(service=service, **(state or {})))
        cm = serving(app)
        url = cm.__enter__()
        with_stack.append(cm)
        return url, runtime, built

    yield start
    for cm in reversed(with_stack):
        cm.__exit__(None, None, None)
