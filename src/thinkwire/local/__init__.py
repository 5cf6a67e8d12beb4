"""Embedded local engine: model store, runtime binding, profiles, renderer, grammar, output parser,
and its service (``EngineService``: slots, queue, cancellation)."""
