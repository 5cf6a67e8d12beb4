"""Canned scripts for the local engine's scripted runtime (``thinkwire.local.scripted``), for
tests that need a fixed completion text rather than the scripted model (``scripted_agent``).

Both are written for ``qwen2.5-think``'s layout (thinking continued after ``<think>\\n``).
"""

from __future__ import annotations

import re
from typing import Any, Final


def echo_reply(prompt: str) -> str:
    """Thinks about the last user line, then echoes it."""
    user = prompt.rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>", 1)[0].strip()
    last = user.splitlines()[-1] if user else ""
    words = len(last.split())
    return (
        f"The user wrote {words} word{'s' if words != 1 else ''}. "
        f"I am the scripted model, so I repeat them.\n</think>\n\n{last or '(nothing to repeat)'}"
    )


WEATHER_TOOL: Final[dict[str, Any]] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
"""The tool ``weather_agent`` calls (name, description, JSON Schema of its arguments)."""
_CALL: Final = (
    'I need the weather for {city}, so I call the tool.\n</think>\n<tool_call>\n{{"name": "get_weather", '
    '"arguments": {{"city": "{city}"}}}}\n</tool_call>'
)
_ANSWER: Final = "The tool says {city} is sunny, so I can answer.\n</think>\nIt is sunny in {city}."


def weather_agent(prompt: str) -> str:
    """A two-step tool loop: thinks, then calls
    ``get_weather`` (``WEATHER_TOOL``) for the city the user named — the last capitalised word
    after "in" in their last message, else the last capitalised word — and, once the last turn
    holds a tool result, thinks again and answers ``It is sunny in CITY.``"""
    turns = [t.split("<|im_end|>", 1)[0] for t in prompt.split("<|im_start|>user\n")[1:]]
    asked = [t for t in turns if not t.lstrip().startswith("<tool_response>")]
    said = asked[-1] if asked else ""
    named = re.findall(r"\bin ([A-Z][A-Za-z]+)", said)
    names = named or [w for w in (w.strip("?.!,") for w in said.split()) if w[:1].isupper() and w.isalpha()]
    city = names[-1] if names else "Paris"
    if turns and turns[-1].lstrip().startswith("<tool_response>"):
        return _ANSWER.format(city=city)
    return _CALL.format(city=city)
