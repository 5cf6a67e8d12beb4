"""Suites by name: ``builtin`` (every family), ``builtin:FAMILY,...``, ``tau2:DOMAIN[:N]``."""

from __future__ import annotations

import importlib

from thinkwire.errors import ThinkwireError
from thinkwire.evals.tasks import FAMILIES, Task


class SuiteError(ThinkwireError):
    """A suite name that names nothing (the message lists what exists)."""


def family_tasks(family: str) -> list[Task]:
    if family not in FAMILIES:
        raise SuiteError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    module = importlib.import_module(f"thinkwire.evals.families.{family}")
    return list(module.TASKS)


def builtin_suite(families: list[str] | None = None) -> list[Task]:
    """The built-in tasks of ``families`` (default: all), in family order."""
    return [task for family in families or FAMILIES for task in family_tasks(family)]


def load_suite(spec: str) -> list[Task]:
    """The tasks ``spec`` names (module docstring)."""
    name, _, rest = spec.partition(":")
    if name == "builtin":
        families = [f.strip() for f in rest.split(",") if f.strip()] if rest else None
        return builtin_suite(families)
    if name == "tau2":
        adapter = importlib.import_module("thinkwire.evals.tau2")  # needs thinkwire[tau2]
        return list(adapter.tau2_suite(rest))
    raise SuiteError(f"unknown suite {spec!r}; expected builtin, builtin:FAMILY,... or tau2:DOMAIN[:N]")


__all__ = ["SuiteError", "builtin_suite", "family_tasks", "load_suite"]
