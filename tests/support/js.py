"""Where the JavaScript clients live: ``tests/js``, a small npm project (the Vercel AI SDK and
its providers, pinned), installed by the ``js_project`` fixture (``npm ci``, once per session)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

JS: Final = Path(__file__).resolve().parents[1] / "js"
