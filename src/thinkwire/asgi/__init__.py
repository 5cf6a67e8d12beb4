"""The small ASGI layer below ``server`` and ``emulators``: what both serve HTTP with.

``errors``: errors in each dialect's envelope; ``http``: reading request bodies and the
client's credential; ``event_stream``: server-sent events that always close their source;
``serving``: an app on a loopback port in a background thread.
"""
