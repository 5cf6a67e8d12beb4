"""thinkwire: interleaved thinking for LLM agents, end to end.

The public API: the IR (``thinkwire.ir``), the codecs (``thinkwire.dialects.base.get_codec``)
and conversion helpers (``convert``, ``StreamConverter``).
"""

from thinkwire.convert import Conversion, StreamConverter, convert, convert_stream, detect_kind
from thinkwire.dialects.base import get_codec
from thinkwire.errors import DecodeError, EncodeError, InputTooLarge, ThinkwireError

__version__ = "0.1.0"

__all__ = [
    "Conversion",
    "DecodeError",
    "EncodeError",
    "InputTooLarge",
    "StreamConverter",
    "ThinkwireError",
    "__version__",
    "convert",
    "convert_stream",
    "detect_kind",
    "get_codec",
]
