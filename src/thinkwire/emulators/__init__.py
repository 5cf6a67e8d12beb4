"""Vendor emulators: small servers that speak a vendor's wire format, enforce its documented
interleaved-thinking rules, and answer with a deterministic scripted model (or the embedded
local model), so the gateway and the conformance suite can be tested with no network.

- ``scripted``: the scripted model over the IR (``reply``, ``schema_example``);
- ``models``: ``LocalModel`` (the local engine behind a vendor, streamed live) and
  ``load_local_model``;
- ``vendors``: ``anthropic``, ``deepseek``, ``deepseek-anthropic``, ``minimax``,
  ``openai-responses``, ``openrouter`` (Chat, and its Responses beta beside) and their rules;
- ``breaks``: the ``--break`` cases (``BREAKS``);
- ``app``: ``create_emulator(vendor, break_case=None, secret=None, model=None)``;
- ``run``: ``run_emulator(vendor, host, port, break_case, model="scripted")`` for
  ``thinkwire emulate``.
"""

from thinkwire.emulators.app import Exchange, create_emulator, make_vendor
from thinkwire.emulators.breaks import BREAKS, BreakCase
from thinkwire.emulators.models import MODELS, LocalModel, Model, load_local_model
from thinkwire.emulators.run import emulating, run_emulator
from thinkwire.emulators.vendors import VENDORS, Vendor
from thinkwire.scripted import reply, schema_example

__all__ = [
    "BREAKS",
    "MODELS",
    "VENDORS",
    "BreakCase",
    "Exchange",
    "LocalModel",
    "Model",
    "Vendor",
    "create_emulator",
    "emulating",
    "load_local_model",
    "make_vendor",
    "reply",
    "run_emulator",
    "schema_example",
]
