"""Vendor emulators: small servers that speak a vendor's wire format, enforce its documented
interleaved-thinking rules, and answer with a deterministic scripted model, so the gateway and
the conformance suite can be tested with no network.

- ``scripted``: the scripted model over the IR (``reply``, ``schema_example``);
- ``vendors``: ``anthropic``, ``deepseek``, ``minimax``, ``openai-responses``, ``openrouter``
  and their rules;
- ``breaks``: the ``--break`` cases (``BREAKS``);
- ``app``: ``create_emulator(vendor, break_case=None, secret=None)``;
- ``run``: ``run_emulator(vendor, host, port, break_case)`` for ``thinkwire emulate``.
"""

from thinkwire.emulators.app import Exchange, create_emulator, make_vendor
from thinkwire.emulators.breaks import BREAKS, BreakCase
from thinkwire.emulators.run import emulating, run_emulator
from thinkwire.emulators.scripted import reply, schema_example
from thinkwire.emulators.vendors import VENDORS, Vendor

__all__ = [
    "BREAKS",
    "VENDORS",
    "BreakCase",
    "Exchange",
    "Vendor",
    "create_emulator",
    "emulating",
    "make_vendor",
    "reply",
    "run_emulator",
    "schema_example",
]
