"""The sanity agents: ``oracle`` must pass every task, ``noop`` must fail every one.

Both are models over the episode's reference (``thinkwire.evals.tasks``), run through the same
agent loop, tools and checks as any other model, so they test the tasks and the harness:

- ``oracle``: in turn *t* of the conversation it makes the reference calls of that turn one
  per model turn (each after a short thinking block naming the step), then gives the turn's
  reference answer. It does not read tool results: the environments are deterministic.
- ``noop``: thinks once and answers that it cannot help, calling no tool.
"""

from __future__ import annotations

import orjson

from thinkwire.agent.models import FunctionModel
from thinkwire.evals.tasks import Episode
from thinkwire.ir.blocks import Text, Thinking, ToolCall
from thinkwire.ir.conversation import Request, Response, Usage
from thinkwire.policy import current_turn_start, is_real_user_message

SANITY_MODELS = ("oracle", "noop")


def oracle_model(episode: Episode) -> FunctionModel:
    def respond(request: Request) -> Response:
        messages = request.messages
        turn = sum(1 for m in messages if is_real_user_message(m)) - 1
        step = sum(1 for m in messages[current_turn_start(messages) :] if m.role == "assistant")
        reference = episode.turns[turn]
        if step < len(reference.actions):
            action = reference.actions[step]
            call = ToolCall(
                id=f"oracle-{turn}-{step}",
                name=action.tool,
                arguments=orjson.dumps(action.arguments).decode(),
            )
            thought = Thinking(text=f"Reference step {step + 1} of turn {turn + 1}: call {action.tool}.")
            return Response(blocks=(thought, call), stop_reason="tool_use", usage=_usage(request))
        thought = Thinking(text=f"Turn {turn + 1} is done; giving the reference answer.")
        return Response(
            blocks=(thought, Text(text=reference.answer)), stop_reason="end_turn", usage=_usage(request)
        )

    return FunctionModel(respond, name="oracle")


def noop_model() -> FunctionModel:
    def respond(request: Request) -> Response:
        blocks = (Thinking(text="I will not use any tool."), Text(text="I cannot help with that."))
        return Response(blocks=blocks, stop_reason="end_turn", usage=_usage(request))

    return FunctionModel(respond, name="noop")


def _usage(request: Request) -> Usage:
    """A nominal count (one per message and block), so reports have tokens to show."""
    return Usage(input_tokens=sum(1 + len(m.blocks) for m in request.messages), output_tokens=2)


__all__ = ["SANITY_MODELS", "noop_model", "oracle_model"]
