"""``thinkwire serve``: OpenAI Chat, Anthropic Messages and OpenAI Responses on the local engine."""

from thinkwire.server.app import create_app
from thinkwire.server.state import ServerState

__all__ = ["ServerState", "create_app"]
