"""Agent tools: schemas from type hints and docstrings, run_tool's error results, load_tools' specs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypedDict

import anyio
import anyio.to_thread
import msgspec
import pytest

from thinkwire.agent.tools import MAX_OUTPUT, AgentTool, ToolError, ToolRun, load_tools, run_tool, tool
from thinkwire.ir.blocks import ToolCall

LIMIT = 10  # seconds any one async test may take; a hang fails instead of stalling the suite


def call(name: str, arguments: str) -> ToolCall:
    return ToolCall(id="call_1", name=name, arguments=arguments)


def text(ran: ToolRun) -> str:
    """What the model sees of a tool run (always text for these tools)."""
    assert isinstance(ran.result.content, str)
    return ran.result.content


def schema_of(fn: Any) -> dict[str, Any]:
    parameters = tool(fn).spec.parameters
    assert parameters is not None
    return parameters


class Point(msgspec.Struct):
    x: int
    y: int = 0


class Size(TypedDict):
    width: int
    height: int


@dataclasses.dataclass
class Window:
    title: str


# -- tool(): the schema ---------------------------------------------------------------------------


def test_required_parameters_are_those_without_defaults() -> None:
    def search(query: str, limit: int = 10, exact: bool = False) -> str:
        return query

    schema = schema_of(search)
    assert schema["type"] == "object"
    assert schema["required"] == ["query"]
    assert schema["properties"]["query"] == {"type": "string"}
    assert schema["properties"]["limit"] == {"type": "integer", "default": 10}
    assert schema["properties"]["exact"] == {"type": "boolean", "default": False}
    assert "title" not in schema
    assert "additionalProperties" not in schema


def test_a_tool_without_parameters_has_an_empty_object_schema() -> None:
    def now() -> str:
        return "noon"

    assert schema_of(now) == {"type": "object", "properties": {}, "required": []}


def test_literal_list_dict_and_optional_hints_become_json_schema() -> None:
    def sort(
        mode: Literal["asc", "desc"],
        keys: list[str],
        weights: dict[str, float],
        limit: int | None = None,
    ) -> str:
        return mode

    properties = schema_of(sort)["properties"]
    assert properties["mode"] == {"enum": ["asc", "desc"]}
    assert properties["keys"] == {"type": "array", "items": {"type": "string"}}
    assert properties["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert properties["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}


def test_nested_structs_typeddicts_and_dataclasses_are_inlined_without_refs() -> None:
    def place(at: Point, size: Size, window: Window | None = None) -> str:
        return "placed"

    schema = schema_of(place)
    assert "$ref" not in json.dumps(schema)  # small models do badly with $ref
    assert "$defs" not in schema
    at = schema["properties"]["at"]
    assert at["type"] == "object"
    assert at["required"] == ["x"]
    assert at["properties"]["y"] == {"type": "integer", "default": 0}
    size = schema["properties"]["size"]
    assert size["required"] == ["height", "width"]
    window = schema["properties"]["window"]["anyOf"][0]
    assert window["properties"] == {"title": {"type": "string"}}


@pytest.mark.parametrize("hint", [object, complex])
def test_a_type_that_cannot_be_described_is_a_tool_error_naming_the_parameter(hint: type) -> None:
    def fn(fine: int, strange: Any) -> str:
        return ""

    fn.__annotations__ = {"fine": int, "strange": hint, "return": str}
    with pytest.raises(ToolError, match=r"tool fn: parameter 'strange' cannot be described to a model"):
        tool(fn)


def test_a_parameter_without_a_type_hint_is_refused() -> None:
    def fn(count: int, label) -> str:
        return ""

    with pytest.raises(ToolError, match=r"tool fn: parameter 'label' needs a type hint"):
        tool(fn)


@pytest.mark.parametrize(
    "source",
    ["def fn(*items: int) -> str: ...", "def fn(**options: int) -> str: ..."],
    ids=["args", "kwargs"],
)
def test_star_args_and_kwargs_are_refused(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(ToolError, match=r"\*args and \*\*kwargs cannot be described"):
        tool(namespace["fn"])


def test_an_unresolvable_forward_reference_is_a_tool_error() -> None:
    def fn(thing: Missing) -> str:  # type: ignore[name-defined]  # noqa: F821
        return ""

    with pytest.raises(ToolError, match=r"tool fn: cannot read its type hints: name 'Missing'"):
        tool(fn)


# -- tool(): descriptions ---------------------------------------------------------------------------


def test_description_is_the_first_paragraph_and_args_describe_parameters() -> None:
    def weather(city: str, days: int = 1, units: str = "metric") -> str:
        """Look up the weather
        for a city.

        Uses the forecast service; this paragraph is not the description.

        Args:
            city: The city's name, in English
                or in the local language.
            days (int): How many days ahead.
            ghost: A parameter that does not exist.

        Returns:
            The forecast as text.
        """
        return city

    made = tool(weather)
    assert made.name == "weather"
    assert made.spec.description == "Look up the weather for a city."
    properties = (made.spec.parameters or {})["properties"]
    assert properties["city"]["description"] == "The city's name, in English or in the local language."
    assert properties["days"]["description"] == "How many days ahead."
    assert "description" not in properties["units"]
    assert "ghost" not in properties
    assert "forecast" not in json.dumps(properties)  # the Returns section is not an argument


def test_no_docstring_means_no_description_and_name_can_be_overridden() -> None:
    def fn(x: int) -> int:
        return x

    made = tool(fn, name="double", timeout=3.0)
    assert made.spec.description is None
    assert made.name == "double"
    assert made.timeout == 3.0


# -- run_tool ----------------------------------------------------------------------------------------


def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


def echo(text: str) -> str:
    """Say it back."""
    return text


def place(at: Point) -> str:
    return f"{at.x},{at.y}"


@pytest.mark.anyio
async def test_a_string_result_goes_to_the_model_as_it_is() -> None:
    ran = await run_tool([tool(add), tool(echo)], call("echo", '{"text": "hi \\"there\\""}'))
    assert ran.result.call_id == "call_1"
    assert ran.result.content == 'hi "there"'
    assert not ran.result.is_error
    assert ran.seconds >= 0


@pytest.mark.anyio
async def test_other_results_go_as_json() -> None:
    def facts() -> dict[str, Any]:
        return {"n": 1, "ok": True, "none": None, "items": [1.5, "a"]}

    def where() -> Point:
        return Point(2, 3)

    def nothing() -> None:
        return None

    tools = [tool(add), tool(facts), tool(where), tool(nothing)]
    assert text(await run_tool(tools, call("add", '{"a": 2, "b": 40}'))) == "42"
    got = text(await run_tool(tools, call("facts", "{}")))
    assert json.loads(got) == {"n": 1, "ok": True, "none": None, "items": [1.5, "a"]}
    assert json.loads(text(await run_tool(tools, call("where", "{}")))) == {"x": 2, "y": 3}
    assert text(await run_tool(tools, call("nothing", "{}"))) == "null"


@pytest.mark.anyio
async def test_nested_arguments_are_converted_to_their_types() -> None:
    ran = await run_tool([tool(place)], call("place", '{"at": {"x": 4}}'))
    assert ran.result.content == "4,0"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": "two"}', "Expected `int`, got `str` - at `$.a`"),
        ('{"b": 1}', "Object missing required field `a`"),
        ('{"a": 1, "c": 2}', "Object contains unknown field `c`"),
    ],
    ids=["wrong-type", "missing", "unknown"],
)
async def test_invalid_arguments_are_an_error_result_naming_the_field(arguments: str, expected: str) -> None:
    ran = await run_tool([tool(add)], call("add", arguments))
    assert ran.result.is_error
    assert ran.result.content == f"error: invalid arguments for add: {expected}"


@pytest.mark.anyio
async def test_a_nested_field_is_named_by_its_path() -> None:
    ran = await run_tool([tool(place)], call("place", '{"at": {"x": "left"}}'))
    assert ran.result.is_error
    assert "`$.at.x`" in ran.result.content


@pytest.mark.anyio
async def test_an_unknown_tool_is_an_error_result_listing_the_tools() -> None:
    ran = await run_tool([tool(add), tool(echo)], call("multiply", "{}"))
    assert ran.result.is_error
    assert ran.result.content == "error: there is no tool named 'multiply' (tools: add, echo)"
    none = await run_tool([], call("multiply", "{}"))
    assert none.result.content == "error: there is no tool named 'multiply' (tools: none)"


@pytest.mark.anyio
async def test_arguments_that_are_not_json_or_not_an_object_are_error_results() -> None:
    broken = await run_tool([tool(add)], call("add", '{"a": 1,'))
    assert broken.result.is_error
    assert text(broken).startswith("error: the arguments are not valid JSON (")
    assert text(broken).endswith('): {"a": 1,')
    listed = await run_tool([tool(add)], call("add", "[1, 2]"))
    assert listed.result.is_error
    assert listed.result.content == "error: the arguments must be a JSON object, got [1, 2]"


@pytest.mark.anyio
async def test_an_exception_in_the_tool_is_an_error_result_with_its_type_and_message() -> None:
    def explode(reason: str) -> str:
        raise ValueError(f"cannot: {reason}")

    async def explode_later() -> str:
        await anyio.sleep(0)
        raise KeyError("missing")

    tools = [tool(explode), tool(explode_later)]
    ran = await run_tool(tools, call("explode", '{"reason": "disk full"}'))
    assert (ran.result.content, ran.result.is_error) == ("error: ValueError: cannot: disk full", True)
    later = await run_tool(tools, call("explode_later", "{}"))
    assert (later.result.content, later.result.is_error) == ("error: KeyError: 'missing'", True)


@pytest.mark.anyio
async def test_a_tool_that_outlives_its_timeout_is_an_error_result() -> None:
    never = anyio.Event()
    cancelled = anyio.Event()

    async def wait() -> str:
        try:
            await never.wait()
        finally:
            cancelled.set()
        return "never"

    with anyio.fail_after(LIMIT):
        ran = await run_tool([tool(wait, timeout=0.05)], call("wait", "{}"))
    assert ran.result.is_error
    assert ran.result.content == "error: wait timed out after 0.05 s"
    assert cancelled.is_set()  # the async tool itself was cancelled, not left running


@pytest.mark.anyio
async def test_a_tool_s_own_timeout_error_is_not_reported_as_the_tool_timing_out() -> None:
    def fetch() -> str:
        raise TimeoutError("the socket read timed out")

    ran = await run_tool([tool(fetch, timeout=30)], call("fetch", "{}"))
    assert ran.result.is_error
    assert ran.result.content == "error: TimeoutError: the socket read timed out"


@pytest.mark.anyio
async def test_sync_tools_run_off_the_event_loop() -> None:
    started, release = threading.Event(), threading.Event()
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def block() -> str:
        ran_on.append(threading.get_ident())
        started.set()
        # released by a coroutine on the event loop: if this ran on the loop, nobody could
        return "released" if release.wait(LIMIT) else "the loop was blocked"

    async def run_it(out: list[str]) -> None:
        out.append(text(await run_tool([tool(block)], call("block", "{}"))))

    results: list[str] = []
    with anyio.fail_after(LIMIT):
        async with anyio.create_task_group() as group:
            group.start_soon(run_it, results)
            assert await anyio.to_thread.run_sync(started.wait, LIMIT)
            release.set()
    assert results == ["released"]
    assert ran_on != [loop_thread]


@pytest.mark.anyio
async def test_output_longer_than_max_output_is_cut_and_says_so() -> None:
    def long(n: int) -> str:
        return "x" * n

    tools = [tool(long)]
    cut = text(await run_tool(tools, call("long", json.dumps({"n": MAX_OUTPUT + 500}))))
    assert cut.startswith("x" * MAX_OUTPUT)
    assert cut[MAX_OUTPUT:] == f"\n[output cut: {MAX_OUTPUT + 500} characters, the first {MAX_OUTPUT} shown]"
    whole = text(await run_tool(tools, call("long", json.dumps({"n": MAX_OUTPUT}))))
    assert whole == "x" * MAX_OUTPUT


@pytest.mark.anyio
async def test_cancelling_run_tool_propagates_and_cancels_an_async_tool() -> None:
    entered, never, cleaned = anyio.Event(), anyio.Event(), anyio.Event()

    async def hang() -> str:
        entered.set()
        try:
            await never.wait()
        finally:
            cleaned.set()
        return "never"

    with anyio.fail_after(LIMIT):
        task = asyncio.ensure_future(run_tool([tool(hang)], call("hang", "{}")))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert cleaned.is_set()


@pytest.mark.anyio
async def test_cancelling_run_tool_propagates_while_a_sync_tool_blocks() -> None:
    started, release = threading.Event(), threading.Event()

    def block() -> str:
        started.set()
        release.wait(LIMIT)
        return "done"

    try:
        with anyio.fail_after(LIMIT):
            task = asyncio.ensure_future(run_tool([tool(block)], call("block", "{}")))
            assert await anyio.to_thread.run_sync(started.wait, LIMIT)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task  # the worker thread is abandoned, not waited for
    finally:
        release.set()


# -- load_tools -----------------------------------------------------------------------------------


TOOLS_FILE = '''
from json import dumps
from os.path import join

import msgspec

CONSTANT = 3


class Thing(msgspec.Struct):
    size: int


def greet(name: str) -> str:
    """Greet someone."""
    return "hello " + name


async def measure(thing: Thing) -> int:
    """Measure a thing."""
    return thing.size * CONSTANT


def _helper(x: int) -> int:
    return x
'''


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_tools.py"
    path.write_text(TOOLS_FILE)
    return path


@pytest.fixture
def tools_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module importable by name (unique per test), removed from ``sys.modules`` after."""
    name = f"tw_tools_{tmp_path.name}"
    package = tmp_path / "importable"
    package.mkdir()
    (package / f"{name}.py").write_text(TOOLS_FILE)
    monkeypatch.syspath_prepend(str(package))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.anyio
async def test_a_file_spec_loads_the_function_and_it_runs(tools_file: Path) -> None:
    (greet,) = load_tools([f"{tools_file}:greet"])
    assert greet.name == "greet"
    assert greet.spec.description == "Greet someone."
    ran = await run_tool([greet], call("greet", '{"name": "Ada"}'))
    assert ran.result.content == "hello Ada"


@pytest.mark.anyio
async def test_a_module_spec_loads_the_function_with_types_from_its_module(tools_module: str) -> None:
    (measure,) = load_tools([f"{tools_module}:measure"])
    assert (measure.spec.parameters or {})["properties"]["thing"]["required"] == ["size"]
    ran = await run_tool([measure], call("measure", '{"thing": {"size": 4}}'))
    assert ran.result.content == "12"


def test_star_takes_only_the_public_functions_the_module_defines(tools_module: str, tools_file: Path) -> None:
    # not dumps / join (imported), _helper (private), Thing (a class), CONSTANT
    assert [t.name for t in load_tools([f"{tools_module}:*"])] == ["greet", "measure"]
    assert [t.name for t in load_tools([f"{tools_file}:*"])] == ["greet", "measure"]


def test_a_module_attribute_that_is_already_an_agent_tool_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "made.py"
    path.write_text(
        "from thinkwire.agent.tools import tool\n\n"
        "def _shout(text: str) -> str:\n    return text.upper()\n\n"
        "SHOUT = tool(_shout, name='shout', timeout=5)\n"
    )
    (made,) = load_tools([f"{path}:SHOUT"])
    assert isinstance(made, AgentTool)
    assert (made.name, made.timeout) == ("shout", 5)


@pytest.mark.parametrize("spec", ["greet", ":greet", "my_tools:", ""])
def test_a_spec_without_module_and_function_is_refused(spec: str) -> None:
    with pytest.raises(ToolError) as raised:
        load_tools([spec])
    assert str(raised.value) == f"--tools {spec}: expected MODULE:FUNCTION or FILE.py:FUNCTION"


def test_a_missing_module_file_or_function_is_a_tool_error_naming_the_spec(
    tools_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(ToolError) as module:
        load_tools(["no_such_module_for_thinkwire:fn"])
    assert str(module.value) == (
        "--tools no_such_module_for_thinkwire:fn: cannot import no_such_module_for_thinkwire: "
        "ModuleNotFoundError: No module named 'no_such_module_for_thinkwire'"
    )
    missing = tmp_path / "missing.py"
    with pytest.raises(ToolError) as file:
        load_tools([f"{missing}:fn"])
    assert str(file.value) == f"--tools {missing}:fn: no file {missing}"
    with pytest.raises(ToolError) as function:
        load_tools([f"{tools_file}:nope"])
    assert str(function.value) == f"--tools {tools_file}:nope: {tools_file} has no function 'nope'"
    with pytest.raises(ToolError, match="has no function 'CONSTANT'"):
        load_tools([f"{tools_file}:CONSTANT"])


def test_a_module_that_fails_to_import_is_a_tool_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no config here')\n")
    with pytest.raises(ToolError) as raised:
        load_tools([f"{broken}:fn"])
    assert str(raised.value) == (f"--tools {broken}:fn: cannot import {broken}: RuntimeError: no config here")


def test_a_module_with_no_public_functions_is_a_tool_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("from os.path import join\n\n\ndef _private(x: int) -> int:\n    return x\n")
    with pytest.raises(ToolError, match=r"^--tools .*empty\.py:\*: .*empty\.py defines no public functions$"):
        load_tools([f"{empty}:*"])


def test_a_function_that_is_not_a_valid_tool_fails_loading(tmp_path: Path) -> None:
    path = tmp_path / "untyped.py"
    path.write_text("def fn(x):\n    return x\n")
    with pytest.raises(ToolError, match=r"tool fn: parameter 'x' needs a type hint"):
        load_tools([f"{path}:fn"])


def test_duplicate_names_are_a_tool_error_naming_the_specs(tools_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.py"
    other.write_text("def greet(whom: str) -> str:\n    return whom\n")
    first, second = f"{tools_file}:greet", f"{other}:*"
    with pytest.raises(ToolError) as raised:
        load_tools([first, second])
    assert str(raised.value) == f"--tools: more than one tool is named greet (from {first}, {second})"
    with pytest.raises(ToolError, match="more than one tool is named greet"):
        load_tools([first, first])
