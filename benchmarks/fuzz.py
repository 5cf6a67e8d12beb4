"""Hostile requests to the three endpoints: how many got a 5xx, an exception name or another
wrong answer, and what they did to the server's memory.

**Setup** (``tests/support/fuzz.py``, the same requests as ``tests/server/test_server_fuzz.py``
without hypothesis): ``thinkwire serve --model scripted`` and, with ``--gateway``, ``thinkwire
serve --config`` over the strict Anthropic, DeepSeek and OpenAI Responses emulators, each a
child process. Valid requests (thinking, signatures, tool calls and results, whole and
streamed) are made against each server, then ``--requests`` mutated copies per endpoint
(``--seed`` fixes which) go to it over one keep-alive connection, each followed by
``GET /healthz`` on the same socket.

**Reported**, per server and endpoint: requests, 5xx answers, answers naming a Python
exception, other problems (no dialect envelope, a 400 naming no place, a keep-alive connection
lost), and the server's RSS before and after (after the valid seeds, so the model's and the
state's start-up memory is in "before"). The server's log is checked for tracebacks.

    python benchmarks/fuzz.py                      # serve --model scripted, 3,000 per endpoint
    python benchmarks/fuzz.py --gateway --requests 3000 --check

``--check`` exits 1 on any problem, or when a server's RSS after is over ``--rss-limit`` MB
(default 300: ``serve --model scripted`` measured 72 -> 207 MB over 9,000 requests, levelling
off; the issue measured 63 -> 502 MB over 3,587 before its three unbounded holders were bounded).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/support, when run as python benchmarks/fuzz.py
    sys.path.insert(0, str(ROOT))

from tests.support.fuzz import (  # noqa: E402 (after sys.path)
    DIALECTS,
    ENDPOINTS,
    EXCEPTION_NAME,
    Connection,
    Target,
    gateway_target,
    mutate,
    problems,
    random_ops,
    rss_mb,
    scripted_target,
)


@dataclass
class Row:
    server: str
    endpoint: str
    requests: int = 0
    server_errors: int = 0
    exception_names: int = 0
    other: int = 0
    seconds: float = 0.0
    rss_after: float = 0.0
    examples: list[str] = field(default_factory=list)


def run(name: str, target: Target, requests: int, seed: int) -> list[Row]:
    rows = []
    for dialect in DIALECTS:
        rng = random.Random(f"{seed}-{dialect}")
        row = Row(name, ENDPOINTS[dialect])
        connection = Connection(target.server.url)
        started = time.monotonic()
        pool = target.seeds[dialect]
        for _ in range(requests):
            hostile = mutate(rng.choice(pool), random_ops(rng), stream=rng.random() < 0.5)
            wrong = problems(dialect, hostile, connection.send(ENDPOINTS[dialect], hostile))
            row.requests += 1
            kinds = Counter(
                "5xx" if w.startswith("status 5") else "name" if "exception name" in w else "other"
                for w in wrong
            )
            row.server_errors += kinds["5xx"] > 0
            row.exception_names += kinds["name"] > 0
            row.other += (kinds["other"] > 0) and not kinds["5xx"]
            if wrong and len(row.examples) < 5:
                row.examples.append(f"{hostile.done}: {wrong}")
        connection.close()
        row.seconds = time.monotonic() - started
        row.rss_after = rss_mb(target.server.pid)
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="hostile requests per endpoint (3000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gateway", action="store_true", help="also fuzz the gateway over the emulators")
    parser.add_argument("--no-serve", action="store_true", help="skip serve --model scripted")
    parser.add_argument("--rss-limit", type=float, default=300.0, help="--check: largest RSS after, MB")
    parser.add_argument("--check", action="store_true", help="exit 1 on any problem or RSS growth")
    args = parser.parse_args(argv)
    failed = False
    print("| server | endpoint | requests | 5xx | exception names | other problems | RSS after, MB | s |")
    print("|---|---|---|---|---|---|---|---|")
    targets = ([] if args.no_serve else [("serve --model scripted", scripted_target)]) + (
        [("gateway over the emulators", gateway_target)] if args.gateway else []
    )
    memory = []
    for name, start in targets:
        with tempfile.TemporaryDirectory(prefix="thinkwire-fuzz-") as home, start(Path(home)) as target:
            before = rss_mb(target.server.pid)
            rows = run(name, target, args.requests, args.seed)
            after = rss_mb(target.server.pid)
            log = target.server.stop()
        for row in rows:
            print(
                f"| {row.server} | `{row.endpoint}` | {row.requests} | {row.server_errors} | "
                f"{row.exception_names} | {row.other} | {row.rss_after:.0f} | {row.seconds:.0f} |"
            )
            failed |= bool(row.server_errors or row.exception_names or row.other)
        tracebacks = target.server.log_counts["traceback"]
        named = EXCEPTION_NAME.search(log)
        memory.append(
            f"{name}: RSS {before:.0f} MB before, {after:.0f} MB after ({after / before:.2f}x); "
            f"log: {tracebacks} traceback(s){', names ' + named.group(0) if named else ''}"
        )
        failed |= bool(tracebacks or named) or after > args.rss_limit
        for row in rows:
            for example in row.examples:
                print(f"  {row.endpoint}: {example}", file=sys.stderr)
    print()
    for line in memory:
        print(line)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
