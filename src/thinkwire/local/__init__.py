"""Embedded local engine: model store, runtime binding, profiles, renderer, grammar, output parser."""
