"""``thinkwire check``: a conformance suite for interleaved thinking, for any endpoint.

Probes an Anthropic Messages, OpenAI Chat or OpenAI Responses endpoint and reports which
interleaved-thinking rules it breaks (shared/WIRE.md), with evidence:

- ``endpoint``: ``Endpoint`` and ``Wire`` (IR requests out through the codecs, answers back,
  retried on a dropped connection and on 429/503); ``echo``: the turn as the server sent it;
- ``scenario``: the conversation the probes share, built as IR, and the tool loop;
- ``probes``: ``Probe``, ``Result``, ``Context``; ``baseline``: prompt tokens without reasoning;
- ``structural``, ``leaks``, ``streams``, ``schema``, ``acceptance``, ``recall``, ``carriers``:
  the probes;
- ``card``: the report card (text, json, md); ``runner``: ``run_check``;
- ``command``: ``check_command``, the typer command.
"""

from thinkwire.conformance.card import Card, Row
from thinkwire.conformance.endpoint import Endpoint, Exchange, Unreachable, Wire
from thinkwire.conformance.probes import Context, Probe, Result
from thinkwire.conformance.recall import wilson
from thinkwire.conformance.runner import PROBES, CheckError, run_check

__all__ = [
    "PROBES",
    "Card",
    "CheckError",
    "Context",
    "Endpoint",
    "Exchange",
    "Probe",
    "Result",
    "Row",
    "Unreachable",
    "Wire",
    "run_check",
    "wilson",
]
