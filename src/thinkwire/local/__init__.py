"""Embedded local engine: model store, runtime binding, templates, renderer, grammar, output parser;
the engine built from options (``build``) and its service: slots, queue, cancellation (``service``)."""
