"""Field report: ``thinkwire check`` against third-party servers, written to docs/field-report.md.

Run from the repository root of a fresh clone (needs Python 3.11+, Node 20 with npm, network
to PyPI and npm; takes about half an hour on two cores)::

    python3 benchmarks/field_report.py

Not part of CI: it installs third-party servers. What it does, each step bounded in time:

1. **Install**, each into its own environment under ``.field/`` (git-ignored), reused when
   the pinned version is already there: thinkwire itself (the repository's ``.venv`` when it
   exists, else ``.field/thinkwire`` with ``pip install -e '.[check,local]'``); LiteLLM's proxy
   (``pip install 'litellm[proxy]==LITELLM_VERSION'`` in ``.field/litellm``); claude-code-router
   (``npm install @musistudio/claude-code-router@CCR_VERSION`` in ``.field/ccr``); llama.cpp's
   server through ``xllamacpp`` (thinkwire's ``local`` extra) on the local model of
   ``thinkwire model pull``. An install that fails or times out makes that system
   "not installed: <why>" in the report; the others still run.
2. **Serve**: the strict emulators (``thinkwire emulate deepseek|anthropic|openrouter``, the
   scripted model, ``--calls 2``) with each proxy in front of them, configured as a user would
   (``litellm --config`` with a ``model_list``; claude-code-router's ``config.json`` with
   ``Providers`` and its ``deepseek`` / ``Anthropic`` / ``openrouter`` transformers, under a
   private ``HOME``), and llama.cpp's server on the local model directly (no emulator: it is
   the model server). Every process runs under ``timeout`` and in its own process group, which
   is killed when its system is done.
3. **Check**: ``thinkwire check --format json`` per system, client dialect it serves (a path
   that answers 404 is "not served") and routed model; ``--repeat 6`` through the proxies
   (scripted emulators), ``--repeat 1`` on llama.cpp (a real 1.5B model on CPU; its output is
   capped by the server's ``n_predict``). The cards, stderr and every server's log go to
   ``.field/runs/<UTC time>/``.
4. **Write** ``docs/field-report.md``: versions, the command, the date, per system a report
   card (probes x runs) with the failing probes' summaries, and the notes in ``NOTES`` — the
   plain-words reading of the evidence, written by hand from the JSON of the run named in
   ``NOTES_RUNS``. When a rerun's verdicts differ from the ones the notes were written for, the
   page says so next to the notes instead of passing stale prose off as current.

Options: ``--only litellm,ccr,llamacpp`` (a subset), ``--skip-install`` (use what is in
``.field/``), ``--out PATH`` (another page), ``--page-from .field/runs/<run> [<run> ...]``
(rewrite the page from saved runs' ``results.json``, e.g. after updating ``NOTES``; a system
in a later run replaces the same system in an earlier one, so the proxies and llama.cpp can be
run apart). ``--serve-llama MODEL PORT
N_PREDICT`` is the llama.cpp server process this script starts (run with thinkwire's Python,
which has xllamacpp).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".field"
PAGE = ROOT / "docs" / "field-report.md"
COMMAND = "python3 benchmarks/field_report.py"

LITELLM_VERSION = "1.108.7"
CCR_VERSION = "2.0.0"
LLAMA_ALIAS = "qwen2.5-coder-1.5b"
LLAMA_N_PREDICT = 128
"""The server-wide cap on generated tokens (llama.cpp clamps each request's ``max_tokens``)."""

INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 120.0
PROXY_REPEAT = 6
LLAMA_REPEAT = 1
PROXY_CHECK_TIMEOUT = 300.0
LLAMA_CHECK_TIMEOUT = 1800.0
READ_TIMEOUT = {"proxy": 100.0, "llamacpp": 300.0}
"""check's ``--timeout`` (seconds per read): a real model on a shared CPU takes minutes a turn."""
LIFETIME = 3 * 3600
"""No process this script starts outlives this many seconds, even if the script is killed."""

DIALECT_PATHS = {
    "openai-chat": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "openai-responses": "/v1/responses",
}

# ports: 18750-18779 (18731 is CI's)
LITELLM_PORTS = {"deepseek": 18750, "anthropic": 18751, "openrouter": 18752, "proxy": 18753}
CCR_PORTS = {"deepseek": 18760, "anthropic": 18761, "openrouter": 18762, "proxy": 18763}
LLAMA_PORT = 18770

PROBES = (
    "thinking-carrier",
    "stream-agrees",
    "signatures",
    "thinking-hidden",
    "stream-final",
    "schema",
    "accept-loop",
    "accept-streamed",
    "accept-omitted",
    "accept-redacted",
    "several-calls",
    "thought-recall",
    "carrier-tokens",
)


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


# installs


@dataclass
class Install:
    """A system's install: its version, or why it is missing."""

    name: str
    version: str = ""
    missing: str = ""
    paths: dict[str, Path] = field(default_factory=dict)


def run_bounded(cmd: list[str], timeout: float, cwd: Path = ROOT, **kw: Any) -> tuple[int, str]:
    """Run to completion within ``timeout`` seconds: (exit status, the output's last lines)."""
    try:
        done = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kw
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f} s: {' '.join(cmd)}"
    except OSError as exc:
        return 127, f"{cmd[0]}: {exc}"
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-6:])
    return done.returncode, tail


def pip_version(python: Path, package: str) -> str:
    code, out = run_bounded(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"], 60
    )
    return out.strip().splitlines()[-1] if code == 0 and out.strip() else ""


def install_thinkwire(skip: bool) -> Install:
    """thinkwire with its ``check`` and ``local`` extras: the repository's .venv, else .field/."""
    for venv in (ROOT / ".venv", CACHE / "thinkwire"):
        exe = venv / "bin" / "thinkwire"
        if exe.exists() and pip_version(venv / "bin" / "python", "xllamacpp"):
            return found_thinkwire(venv)
    if skip:
        return Install("thinkwire", missing="no .venv or .field/thinkwire and --skip-install")
    venv = CACHE / "thinkwire"
    log(f"installing thinkwire into {venv}")
    for cmd in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", ".[check,local]"],
    ):
        code, out = run_bounded(cmd, INSTALL_TIMEOUT)
        if code:
            return Install("thinkwire", missing=f"`{' '.join(cmd)}` failed ({code}): {out}")
    return found_thinkwire(venv)


def found_thinkwire(venv: Path) -> Install:
    python = venv / "bin" / "python"
    _, rev = run_bounded(["git", "rev-parse", "--short", "HEAD"], 30)
    return Install(
        "thinkwire",
        version=f"{pip_version(python, 'thinkwire')} (commit {rev.strip()})",
        paths={"python": python, "thinkwire": venv / "bin" / "thinkwire"},
    )


def install_litellm(skip: bool) -> Install:
    venv = CACHE / "litellm"
    python = venv / "bin" / "python"
    if pip_version(python, "litellm") != LITELLM_VERSION:
        if skip:
            return Install("litellm", missing=f"litellm {LITELLM_VERSION} not in {venv}")
        log(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv}")
        for cmd in (
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
        ):
            code, out = run_bounded(cmd, INSTALL_TIMEOUT)
            if code:
                return Install("litellm", missing=f"`{' '.join(cmd)}` failed ({code}): {out}")
    version = pip_version(python, "litellm")
    if not version:
        return Install("litellm", missing=f"litellm does not import in {venv}")
    return Install("litellm", version=version, paths={"litellm": venv / "bin" / "litellm"})


def install_ccr(skip: bool) -> Install:
    prefix = CACHE / "ccr"
    package = prefix / "node_modules" / "@musistudio" / "claude-code-router"
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        return Install("ccr", missing="node and npm are not on PATH (Node 20 is needed)")

    def version() -> str:
        try:
            return str(json.loads((package / "package.json").read_text())["version"])
        except (OSError, ValueError, KeyError):
            return ""

    if version() != CCR_VERSION:
        if skip:
            return Install("ccr", missing=f"claude-code-router {CCR_VERSION} not in {prefix}")
        log(f"installing @musistudio/claude-code-router@{CCR_VERSION} into {prefix}")
        prefix.mkdir(parents=True, exist_ok=True)
        cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix)]
        code, out = run_bounded([*cmd, f"@musistudio/claude-code-router@{CCR_VERSION}"], 600)
        if code:
            return Install("ccr", missing=f"npm install failed ({code}): {out}")
    if version() != CCR_VERSION:
        return Install("ccr", missing=f"npm installed no claude-code-router {CCR_VERSION}")
    _, node_version = run_bounded([node, "--version"], 30)
    return Install(
        "ccr",
        version=f"{CCR_VERSION} (Node {node_version.strip()})",
        paths={"node": Path(node), "cli": package / "dist" / "cli.js"},
    )


def install_llamacpp(thinkwire: Install, skip: bool) -> Install:
    if thinkwire.missing:
        return Install("llamacpp", missing=f"thinkwire is not installed: {thinkwire.missing}")
    python, exe = thinkwire.paths["python"], thinkwire.paths["thinkwire"]
    version = pip_version(python, "xllamacpp")
    if not version:
        return Install("llamacpp", missing=f"xllamacpp does not import with {python}")
    code, out = run_bounded([str(exe), "model", "path"], 60)
    if code:
        if skip:
            return Install("llamacpp", missing=f"no local model ({out.strip()})")
        log("pulling the local model (thinkwire model pull)")
        code, out = run_bounded([str(exe), "model", "pull"], INSTALL_TIMEOUT)
        if code:
            return Install("llamacpp", missing=f"`thinkwire model pull` failed ({code}): {out}")
    model = Path(out.strip().splitlines()[-1])
    if not model.is_file():
        return Install("llamacpp", missing=f"no model file at {model}")
    return Install("llamacpp", version=f"xllamacpp {version}", paths={"python": python, "model": model})


# processes


@contextlib.contextmanager
def serving(
    name: str, cmd: list[str], logs: Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process in its own process group, under ``timeout``; the group is killed on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    out = (logs / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        ["timeout", "-k", "10", str(LIFETIME), *cmd],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        out.close()


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = START_TIMEOUT) -> str:
    """'' once ``url`` answers 200, else why not (the process exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with status {proc.returncode} before it served"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return ""
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    return f"not ready at {url} after {timeout:.0f} s"


def served(base: str, path: str) -> bool:
    """Whether the server routes ``path``: anything but 404 / 405 to an empty JSON body."""
    request = urllib.request.Request(
        base + path, data=b"{}", headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code not in (404, 405)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def emulators(thinkwire: Path, ports: dict[str, int], logs: Path) -> Iterator[str]:
    """The three strict emulators (scripted, two tool calls a turn); yields '' or why not."""
    with contextlib.ExitStack() as stack:
        for vendor in ("deepseek", "anthropic", "openrouter"):
            cmd = [str(thinkwire), "emulate", vendor, "--port", str(ports[vendor])]
            proc = stack.enter_context(serving(f"emulate-{vendor}", [*cmd, "--calls", "2"], logs))
            why = wait_ready(proc, f"http://127.0.0.1:{ports[vendor]}/v1/models")
            if why:
                yield f"the {vendor} emulator: {why}"
                return
        yield ""


# checks


@dataclass
class Run:
    """One ``thinkwire check`` run: what was checked and its card (or why there is none)."""

    dialect: str
    model: str
    route: str
    card: dict[str, Any] | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class SystemResult:
    key: str
    title: str
    version: str = ""
    missing: str = ""
    setup: str = ""
    runs: list[Run] = field(default_factory=list)
    run: str = ""
    """The name of the run (``.field/runs/<name>``) this result comes from."""


def check(
    thinkwire: Path,
    base: str,
    run: Run,
    repeat: int,
    timeout: float,
    out_dir: Path,
    env: dict[str, str] | None = None,
    read: float = READ_TIMEOUT["proxy"],
) -> Run:
    stem = f"{run.dialect}--{run.model.replace('/', '_').replace(',', '_')}"
    cmd = [str(thinkwire), "check", "--base-url", base, "--dialect", run.dialect]
    cmd += ["--model", run.model, "--repeat", str(repeat), "--format", "json"]
    cmd += ["--timeout", str(read)]
    if env:
        cmd += ["--api-key-env", next(iter(env))]
    log(f"check {base} {run.dialect} {run.model} (--repeat {repeat})")
    started = time.monotonic()
    try:
        env_all = {**os.environ, **(env or {})}
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT, env=env_all
        )
    except subprocess.TimeoutExpired as exc:
        run.error = f"`thinkwire check` did not finish in {timeout:.0f} s (killed)"
        (out_dir / f"{stem}.err").write_bytes(exc.stderr or b"")
        run.seconds = time.monotonic() - started
        return run
    run.seconds = time.monotonic() - started
    (out_dir / f"{stem}.json").write_text(done.stdout)
    (out_dir / f"{stem}.err").write_text(done.stderr)
    try:
        run.card = json.loads(done.stdout)
    except ValueError:
        lines = [ln.strip() for ln in done.stderr.strip().splitlines() if ln.strip()]
        errors = [i for i, ln in enumerate(lines) if ln.startswith("thinkwire: error:")]
        why = " ".join(lines[errors[0] :] if errors else lines[-3:]) or "no output"
        run.error = f"`thinkwire check` exited {done.returncode} without a card: {why}"
    return run


def check_all(
    tw: Install,
    base: str,
    routes: list[tuple[str, str]],
    repeat: int,
    timeout: float,
    logs: Path,
    env: dict[str, str] | None = None,
    read: float = READ_TIMEOUT["proxy"],
) -> list[Run]:
    """``check`` each (model, route) in each dialect the server routes (a 404 path: not served)."""
    runs = []
    for dialect, path in DIALECT_PATHS.items():
        if not served(base, path):
            runs.append(Run(dialect, "-", "-", error=f"{path} not served (404)"))
            continue
        for model, route in routes:
            run = Run(dialect, model, route)
            runs.append(check(tw.paths["thinkwire"], base, run, repeat, timeout, logs, env, read))
    return runs


# the systems


def run_litellm(tw: Install, inst: Install, logs: Path) -> SystemResult:
    result = SystemResult("litellm", "LiteLLM proxy", inst.version, inst.missing)
    if inst.missing:
        return result
    p = LITELLM_PORTS
    routes = [
        ("deepseek-reasoner", "deepseek/deepseek-reasoner", f"http://127.0.0.1:{p['deepseek']}"),
        ("claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", f"http://127.0.0.1:{p['anthropic']}"),
        (
            "openrouter/anthropic/claude-sonnet-4.5",
            "openrouter/anthropic/claude-sonnet-4.5",
            f"http://127.0.0.1:{p['openrouter']}/v1",
        ),
    ]
    config = "model_list:\n"
    for name, model, base in routes:
        config += f"  - model_name: {name}\n    litellm_params:\n      model: {model}\n"
        config += f"      api_base: {base}\n      api_key: sk-emulated\n"
    (logs / "litellm-config.yaml").write_text(config)
    result.setup = (
        "`litellm --config config.yaml --num_workers 1 --detailed_debug` (the upstream requests "
        "in its log) with a random `LITELLM_MASTER_KEY` "
        "(1.108 refuses to start without one) passed to check with `--api-key-env`, and:"
        f"\n\n```yaml\n{config}```"
    )
    base = f"http://127.0.0.1:{p['proxy']}"
    cmd = [str(inst.paths["litellm"]), "--config", str(logs / "litellm-config.yaml")]
    cmd += ["--host", "127.0.0.1", "--port", str(p["proxy"]), "--num_workers", "1"]
    cmd += ["--detailed_debug"]  # litellm.log then holds each request it sends upstream
    with emulators(tw.paths["thinkwire"], p, logs) as why:
        if why:
            result.missing = f"not run: {why}"
            return result
        key = {"FIELD_LITELLM_KEY": f"sk-field-{os.urandom(16).hex()}"}
        env = {"LITELLM_MASTER_KEY": key["FIELD_LITELLM_KEY"], "LITELLM_TELEMETRY": "False"}
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no fetch from GitHub: the bundled map
        with serving("litellm", cmd, logs, env=env) as proc:
            why = wait_ready(proc, f"{base}/health/liveliness", timeout=240)
            if why:
                result.missing = f"not run: litellm {why} (see litellm.log)"
                return result
            pairs = [(name, model) for name, model, _ in routes]
            result.runs = check_all(tw, base, pairs, PROXY_REPEAT, PROXY_CHECK_TIMEOUT, logs, key)
    return result


def run_ccr(tw: Install, inst: Install, logs: Path) -> SystemResult:
    result = SystemResult("ccr", "claude-code-router", inst.version, inst.missing)
    if inst.missing:
        return result
    p = CCR_PORTS
    providers = [
        {
            "name": "deepseek",
            "api_base_url": f"http://127.0.0.1:{p['deepseek']}/chat/completions",
            "api_key": "sk-emulated",
            "models": ["deepseek-reasoner"],
            "transformer": {"use": ["deepseek"]},
        },
        {
            "name": "anthropic",
            "api_base_url": f"http://127.0.0.1:{p['anthropic']}/v1/messages",
            "api_key": "sk-emulated",
            "models": ["claude-sonnet-4-5"],
            "transformer": {"use": ["Anthropic"]},
        },
        {
            "name": "openrouter",
            "api_base_url": f"http://127.0.0.1:{p['openrouter']}/v1/chat/completions",
            "api_key": "sk-emulated",
            "models": ["anthropic/claude-sonnet-4.5"],
            "transformer": {"use": ["openrouter"]},
        },
    ]
    config = {
        "LOG": True,
        "LOG_LEVEL": "debug",
        "HOST": "127.0.0.1",
        "PORT": p["proxy"],
        "API_TIMEOUT_MS": 120000,
        "NON_INTERACTIVE_MODE": True,
        "Providers": providers,
        "Router": {"default": "deepseek,deepseek-reasoner"},
    }
    home = logs / "ccr-home"
    (home / ".claude-code-router").mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=2)
    (home / ".claude-code-router" / "config.json").write_text(text)
    result.setup = (
        "`ccr start` (in the foreground, `HOME` private to the run) with "
        f"`~/.claude-code-router/config.json`:\n\n```json\n{text}\n```\n\n"
        "Each run names its route as `provider,model`, which claude-code-router passes through."
    )
    base = f"http://127.0.0.1:{p['proxy']}"
    cmd = [str(inst.paths["node"]), str(inst.paths["cli"]), "start"]
    with emulators(tw.paths["thinkwire"], p, logs) as why:
        if why:
            result.missing = f"not run: {why}"
            return result
        with serving("ccr", cmd, logs, env={"HOME": str(home)}, cwd=logs) as proc:
            why = wait_ready(proc, f"{base}/health")
            if why:
                result.missing = f"not run: claude-code-router {why} (see ccr.log)"
                return result
            pairs = [
                (f"{provider['name']},{model}", str(provider["api_base_url"]))
                for provider in providers
                for model in provider["models"]
            ]
            result.runs = check_all(tw, base, pairs, PROXY_REPEAT, PROXY_CHECK_TIMEOUT, logs)
    return result


def run_llamacpp(tw: Install, inst: Install, logs: Path) -> SystemResult:
    result = SystemResult("llamacpp", "llama.cpp server (xllamacpp)", inst.version, inst.missing)
    if inst.missing:
        return result
    model = inst.paths["model"]
    result.setup = (
        f"`xllamacpp.Server` on `{model.name}` (no thinking of its own), `use_jinja`, "
        f"`n_ctx` 8192, one slot, 2 threads, `n_predict` {LLAMA_N_PREDICT} (the server caps every "
        "request's output there, so a turn stays within minutes on a shared CPU), "
        "`reasoning_format` left at its default; checked directly, no emulator behind it, "
        f"`--repeat {LLAMA_REPEAT}`."
    )
    base = f"http://127.0.0.1:{LLAMA_PORT}"
    cmd = [str(inst.paths["python"]), str(Path(__file__).resolve()), "--serve-llama"]
    cmd += [str(model), str(LLAMA_PORT), str(LLAMA_N_PREDICT)]
    with serving("llama-server", cmd, logs) as proc:
        why = wait_ready(proc, f"{base}/health", timeout=300)
        if why:
            result.missing = f"not run: llama.cpp server {why} (see llama-server.log)"
            return result
        pairs = [(LLAMA_ALIAS, model.name)]
        read = READ_TIMEOUT["llamacpp"]
        result.runs = check_all(tw, base, pairs, LLAMA_REPEAT, LLAMA_CHECK_TIMEOUT, logs, read=read)
    return result


def serve_llama(model: str, port: int, n_predict: int) -> None:
    """The llama.cpp server process: xllamacpp's HTTP server until SIGTERM."""
    xllamacpp: Any = importlib.import_module("xllamacpp")  # thinkwire's Python only

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.use_jinja = True
    params.n_ctx = 8192
    params.n_parallel = 1
    params.n_predict = n_predict
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.model_alias = {LLAMA_ALIAS}
    server = xllamacpp.Server(params)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(1)
    finally:
        del server


# the page

NOTES_RUNS: dict[str, str] = {
    "litellm": "20261205T222358",
    "ccr": "20261205T222358",
    "llamacpp": "20261205T213444",
}
"""Per system, the run (``.field/runs/<name>``) whose evidence its notes were written from."""

NOTES_VERDICTS: dict[str, str] = {
    "litellm": "9d6985b7324d",
    "ccr": "b1f6a8d50712",
    "llamacpp": "d70337beded3",
}
"""Per system, the digest of that run's verdicts (``verdict_digest``)."""

NOTES: dict[str, str] = {
    "litellm": """\
Where LiteLLM passes requests through, nothing is lost: Chat to DeepSeek, `/v1/messages` to
Anthropic, `/v1/messages` to DeepSeek (sent to DeepSeek's Anthropic-compatible
`/anthropic/v1/messages`, whose own signatures come back and are accepted) and
`/v1/responses` to OpenRouter (sent to OpenRouter's Responses API; LiteLLM rewrites the
response id and leaves the items alone) pass every probe, including the turn with two tool
calls. Every route that translates between formats loses thinking somewhere:

- **Chat to Claude.** Every probe passes, but only because LiteLLM reads back its own
  `thinking_blocks` field (signed, one entry per block; streamed as fragments, the signature in
  a delta of its own, merged by `index`). Its `reasoning_content` joins the two thinking blocks
  with no separator ("...call get_weather.I note the code word..."), and a turn sent back with
  `reasoning_content` alone reaches Claude as a bare `tool_use` and is refused (the
  `carrier-tokens` evidence): a client that keeps only `reasoning_content` cannot finish a tool
  loop with thinking on.
- **Chat to OpenRouter (Claude).** A whole response moves the signed `reasoning_details` under
  `provider_specific_fields` and leaves only the joined `reasoning_content` at the top level.
  When the turn goes back as it was received, LiteLLM forwards `provider_specific_fields`
  unchanged. Its debug log shows `reasoning_details` nested there, where OpenRouter does not
  look, so OpenRouter refuses the turn. The stream has `reasoning_details` at the top level
  but with no signatures (`signatures` names both places), and OpenRouter refuses that too.
  `reasoning_content` sent back is not translated for OpenRouter at all (`carrier-tokens`). No
  tool loop with thinking gets through this route.
- **`/v1/messages` to OpenRouter (Claude).** The whole response merges the two thinking
  blocks into one with `"signature": null` (the SDK's `ThinkingBlock` rejects null). The
  stream keeps the two blocks but puts an empty text block between them and signs neither.
  When the turn goes back, LiteLLM forwards it to OpenRouter as its own `thinking_blocks`
  (with `"signature": ""`) plus `reasoning_content`, never as `reasoning_details` (per its
  upstream log), and OpenRouter refuses it.
- **`/v1/responses` to DeepSeek.** The loop works: the thinking reaches DeepSeek (recall 6/6
  kept, 0/6 stripped). The reasoning item is off-spec, though. It has no `summary` (which the
  SDK type requires), its text is an `output_text` part in `content`,
  `response.reasoning_summary_text.delta` has no `summary_index`, and `output_item.done`
  differs from `response.completed`. There is no `encrypted_content`, although it was asked
  for: the `signatures` fail is right by the letter of the dialect, and a stateless client
  that sends back only an item's id and `encrypted_content` would have nothing to send; check
  sends the reasoning text back, which LiteLLM accepts.
- **`/v1/responses` to Claude.** Whole turns go back and are accepted. In a stream,
  `encrypted_content` and the reasoning `content` appear only in `response.completed`, not on
  `output_item.done` (`signatures` and `stream-final` say where). A client that builds the
  turn from the item events (as check does) therefore sends back a
  reasoning item with only its summary; LiteLLM drops that item and forwards a bare
  `tool_use`, which Claude refuses. A client that reads `response.completed` would not hit
  this. `thought-recall` is inconclusive at 6 trials (kept 3/6, stripped 0/6: only the whole
  trials complete).
- **Setup.** LiteLLM 1.108 will not start without a master key. For a model name missing from
  its cost map (the emulators' own `claude-emulated`), it refuses `reasoning_effort` with
  `UnsupportedParamsError`, so the config uses real model names, which the emulators accept.
  One `api_base` per deployment serves every path: the `deepseek` and `openrouter` emulators
  answer DeepSeek's `/anthropic/v1/messages` and OpenRouter's `/v1/responses` beside their Chat
  APIs, as the real hosts do.""",
    "llamacpp": """\
This card says almost nothing about thinking, and the cause is the model, not the server.
Qwen2.5-Coder-1.5B, the only local GGUF here, never thinks. It also wrote its tool calls as
fenced JSON blocks in the visible text (one call, or both at once), which llama.cpp's
tool-call parser for this template does not pick up. So every probe about thinking
or tool loops is n/a, and the one `fail` on `thinking-carrier` ("no thinking came back") is
true of the traffic and of the model, not a sign that llama.cpp dropped anything. WIRE.md
section 4 lists what llama.cpp does with thinking (`reasoning` and `reasoning_details` are
accepted with 200 and ignored). Checking that needs a model that thinks, which this run did
not have.

What the run does show:

- `/v1/chat/completions` and `/v1/messages` parse with the SDK types. The server closed the
  keep-alive connection after a stream, and check's retry on a fresh connection handled it
  (noted in the `schema` evidence). `/v1/messages` reports Anthropic's usage split (1
  `input_tokens`, the rest as `cache_read_input_tokens` when the prompt prefix is cached).
- `/v1/responses` is far from OpenAI's schema: hundreds of complaints, including no
  `output_index` or `sequence_number` on stream events, `response.created` without `model` or
  `output`, and no `tools`, `tool_choice` or `parallel_tool_calls` on the whole response.
  `stream-final` is n/a (no reasoning item streamed) and lists the item differences for
  `schema`.
- Each turn took one to two minutes on the shared 2-core CPU (128 tokens at most), so a card
  takes 10 to 20 minutes; with 300 s per read no read timed out.""",
    "ccr": """\
claude-code-router serves only `/v1/messages`. With the `Anthropic` transformer it passes
requests through, and every probe passes. With the `deepseek` and `openrouter` transformers:

- A whole (non-streamed) response drops the thinking: only the `tool_use` comes back.
- A streamed response carries the thinking but signs none of it. Its `content_block_start`
  for a thinking block has no `signature` field at all, which the SDK type requires.
- Thinking sent back is not translated into the upstream's carrier: DeepSeek answers 400 "The
  'reasoning_content' in the thinking mode must be passed back", and OpenRouter/Claude
  answers 400 "Expected `thinking` ... but found `tool_use`". No tool loop completes on
  either route, whole or streamed.
- Error bodies include Node stack traces with the server's file paths.

`thought-recall` fails on those two routes, and that follows from the traffic: the whole
trials had no thinking to recall (the proxy dropped it), and every streamed trial, whose
thinking held the value, was refused when its turn went back.""",
}
"""Per system: what it gets wrong, in plain words, judged from that run's JSON evidence."""

CHECKER_NOTES = """\
The first run (`20261205T195010`) showed seven places where check's verdicts did not follow
from the traffic. Each is fixed, with a test in `tests/conformance/` that judges the same bytes
through a tampering proxy in front of the strict emulators; this run's cards were read again
against the evidence and the servers' logs.

1. **A stream's unknown fields were folded by keeping the last delta** (LiteLLM, Chat to
   Claude, `accept-streamed` fail). They are now merged as the whole answer holds them
   (`thinking_blocks` by `index`, the signature delta joined; commit 75b2079), and that route
   passes `accept-streamed`.
2. **The stripped control kept thinking in fields thinkwire does not model** (LiteLLM, Chat to
   Claude, `thought-recall` "drops earlier thinking"). It now strips `thinking_blocks` and the
   reasoning fields at the top of the message or under `provider_specific_fields` (75cec1a):
   kept 6/6, stripped 0/6, a pass.
3. **`thought-recall` n/a although every kept trial that held a value was refused**
   (claude-code-router). Now a fail naming the refusal (75cec1a).
4. **`signatures` n/a on Chat to OpenRouter through LiteLLM.** Now a fail naming where the
   whole answers hold their signatures and which streamed ones hold none (678351e).
5. **An answer cut off mid-response gave a traceback and no card.** Now the probes that
   needed it fail naming it, and the card is kept (75b2079, 282d00e). Not exercised here.
6. **`stream-final` failed on llama.cpp's Responses stream, which has no reasoning item.** Now
   n/a, the differences listed for `schema` (75b2079).
7. **One read past `--timeout` lost the whole card** (llama.cpp `/v1/messages`). Now that
   exchange's error: the probes that needed it say so and the card is kept (75b2079). The
   script also gives llama.cpp 300 s per read.

New in this run: `signatures` on a stream whose events hold the signature only where the folded
turn does not take it names where it sits (LiteLLM `/v1/responses` to Claude: "signed only at
response.output.0.encrypted_content"); `several-calls` n/a says when a refusal of the turn
sent back, not the endpoint, kept a second call from coming (the OpenRouter and DeepSeek
routes of both proxies); and the emulators serve DeepSeek's
`/anthropic/v1/messages` and OpenRouter's `/v1/responses`, so the two LiteLLM routes that
stopped with exit 2 now have cards.

Judged by hand, every verdict in this run follows from the traffic. Three read with care:

- LiteLLM `/v1/responses` to Claude, `accept-streamed` fail: the refused turn is the one built
  from the stream's item events, which lack `encrypted_content`. A client that reads
  `response.completed` would get through; the Responses API puts the whole item on
  `output_item.done`, so the fail stands for clients that follow the items.
- LiteLLM Chat to OpenRouter, `stream-agrees` fail: the whole answer's standard fields hold one
  joined `reasoning_content` (its two signed entries sit under `provider_specific_fields`),
  the stream two top-level `reasoning_details` entries. Both hold the same text; what differs
  is where, which is what the probe checks.
- llama.cpp, `thinking-carrier` fail: true of the traffic (no thinking came back), and caused
  by the model, which does not think (see its notes).
"""


def verdict_digest(result: SystemResult) -> str:
    seen = [
        (r.dialect, r.model, [(row["id"], row["status"]) for row in (r.card or {}).get("rows", [])])
        for r in result.runs
    ]
    return hashlib.sha256(json.dumps([result.missing, seen]).encode()).hexdigest()[:12]


def cell(run: Run, probe: str) -> str:
    for row in (run.card or {}).get("rows", []):
        if row["id"] == probe:
            status = str(row["status"])
            return f"**{status}**" if status == "fail" else status
    return ""


def clip(text: str, limit: int = 400) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def system_section(result: SystemResult) -> str:
    lines = [f"## {result.title}", ""]
    if result.version:
        lines += [f"Version: {result.version}.", ""]
    if result.missing:
        prefix = "" if result.missing.startswith("not run") else "not installed: "
        lines += [f"**{prefix}{result.missing}**", ""]
    if result.setup:
        lines += [f"Setup: {result.setup}", ""]
    checked = [r for r in result.runs if r.card]
    for r in result.runs:
        if r.error:
            lines += [f"- {r.dialect} `{r.model}`: {r.error}"]
    if any(r.error for r in result.runs):
        lines += [""]
    if checked:
        head = [f"{r.dialect}<br>`{r.model}`" for r in checked]
        lines += ["| probe | " + " | ".join(head) + " |", "|---" * (len(checked) + 1) + "|"]
        for probe in PROBES:
            lines += [f"| `{probe}` | " + " | ".join(cell(r, probe) for r in checked) + " |"]
        totals = []
        for r in checked:
            counts = (r.card or {}).get("counts", {})
            totals.append(f"{counts.get('fail', 0)} fail, {r.seconds:.0f} s")
        lines += ["| | " + " | ".join(totals) + " |", ""]
        lines += ["What `check` said where it failed or could not decide:", ""]
        for r in checked:
            for row in (r.card or {}).get("rows", []):
                if row["status"] in ("fail", "inconclusive"):
                    lines += [
                        f"- {r.dialect} `{r.model}`, `{row['id']}` ({row['status']}): "
                        f"{clip(str(row['summary']))}"
                    ]
        lines += [""]
    notes = NOTES.get(result.key)
    if notes:
        lines += ["**What it gets wrong** (read from the evidence by hand):", "", notes, ""]
        if NOTES_VERDICTS.get(result.key) != verdict_digest(result):
            lines += [
                f"*These notes were written from run `{NOTES_RUNS.get(result.key)}`; the verdicts "
                f"of this run (`{result.run}`) differ: read its evidence again before trusting them.*",
                "",
            ]
    return "\n".join(lines)


def write_page(out: Path, results: list[SystemResult], installs: list[Install], started: str) -> None:
    runs = [f"`{name}`" for name in dict.fromkeys(r.run for r in results)]
    names = ("runs " + ", ".join(runs[:-1]) + " and " + runs[-1]) if len(runs) > 1 else f"run {runs[0]}"
    tw = next(i for i in installs if i.name == "thinkwire")
    versions = [
        f"- thinkwire {tw.version or 'not installed: ' + tw.missing}",
        f"- Python {platform.python_version()} on {platform.system()} {platform.machine()}",
    ]
    for r in results:
        versions += [f"- {r.title}: {r.version or 'not installed: ' + r.missing}"]
    page = [
        "# Field report: `thinkwire check` against real proxies and servers",
        "",
        f"Generated by `{COMMAND}` (run from the repository root; not part of CI) on {started} "
        f"UTC, {names}. The script installs each third-party server into its own "
        "environment under `.field/`, puts each proxy in front of thinkwire's strict emulators "
        "(`thinkwire emulate deepseek|anthropic|openrouter`, scripted model, `--calls 2`: two "
        "tool calls per user turn, a code word noted only in thinking), runs `thinkwire check "
        "--format json` in every client dialect the server answers, and writes this page. The "
        "cards, the check's stderr and every server's log stay in `.field/runs/<run>/`; "
        "[conformance.md](conformance.md) explains each probe and verdict. What the emulators "
        "enforce is WIRE.md's vendor rules, so a failure here is the proxy's, not a model's. "
        "The tables come from the cards. The notes under them are written by hand from the "
        "evidence and the servers' logs (`NOTES` in the script) and are flagged when a rerun's "
        "verdicts differ.",
        "",
        "Versions:",
        "",
        *versions,
        "",
        f"Trials: `--repeat {PROXY_REPEAT}` through the proxies (scripted emulators, "
        f"deterministic), `--repeat {LLAMA_REPEAT}` on llama.cpp (a real model on a shared CPU; "
        "too few trials for `thought-recall` to pass or fail on recall alone).",
        "",
        "In the tables, `n/a` means the probe does not apply or tested nothing about thinking "
        "(the card gives the reason); **fail** is in bold.",
        "",
    ]
    for result in results:
        page += [system_section(result), ""]
    page += ["## Where the checker was wrong", "", CHECKER_NOTES]
    if any(NOTES_RUNS.get(r.key) != r.run for r in results):
        page += ["*Written from the runs the notes name; read this run's evidence again.*", ""]
    out.write_text("\n".join(page).rstrip() + "\n")


# main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="litellm,ccr,llamacpp")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--out", type=Path, default=PAGE)
    parser.add_argument("--serve-llama", nargs=3, metavar=("MODEL", "PORT", "N_PREDICT"))
    parser.add_argument("--page-from", type=Path, nargs="+", metavar="RUN", help="rewrite the page only")
    args = parser.parse_args()
    if args.page_from:
        merged: dict[str, SystemResult] = {}
        for saved_run in args.page_from:
            started, installs, loaded = load_run(saved_run)
            merged.update({r.key: r for r in loaded})
        ordered = [merged[k] for k in ("litellm", "ccr", "llamacpp") if k in merged]
        write_page(args.out, ordered, installs, started)
        for result in ordered:
            log(f"{result.key}: verdict digest {verdict_digest(result)}")
        return 0
    if args.serve_llama:
        model, port, n_predict = args.serve_llama
        serve_llama(model, int(port), int(n_predict))
        return 0
    if shutil.which("timeout") is None:
        print("field_report: needs coreutils' timeout", file=sys.stderr)
        return 2
    only = set(args.only.split(","))
    started = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"
    run_dir = CACHE / "runs" / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    log(f"field report: run {run_dir}")

    tw = install_thinkwire(args.skip_install)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        f_litellm = pool.submit(install_litellm, args.skip_install)
        f_ccr = pool.submit(install_ccr, args.skip_install)
        f_llama = pool.submit(install_llamacpp, tw, args.skip_install)
        installs = [tw, f_litellm.result(), f_ccr.result(), f_llama.result()]
    for inst in installs:
        log(f"{inst.name}: {inst.version or 'not installed: ' + inst.missing}")
    by_name = {i.name: i for i in installs}
    if tw.missing:
        for name in ("litellm", "ccr", "llamacpp"):
            by_name[name].missing = by_name[name].missing or f"thinkwire: {tw.missing}"

    jobs = {"litellm": run_litellm, "ccr": run_ccr, "llamacpp": run_llamacpp}
    results: dict[str, SystemResult] = {}

    def system(key: str) -> None:
        if key not in only:
            return
        try:
            results[key] = jobs[key](tw, by_name[key], mkdir(run_dir / key))
            results[key].run = run_dir.name
        except Exception as exc:  # one system's crash must not lose the others' results
            log(f"{key}: the script failed: {exc!r}")
            result = SystemResult(key, key, by_name[key].version, run=run_dir.name)
            result.missing = f"not run: the script failed: {exc!r}"
            results[key] = result

    def proxies() -> None:
        system("litellm")
        system("ccr")

    def llama() -> None:
        system("llamacpp")

    # the proxies run on the scripted emulators while the local model generates
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(proxies), pool.submit(llama)]:
            future.result()

    ordered = [results[k] for k in ("litellm", "ccr", "llamacpp") if k in results]
    saved = {"started": started, "installs": installs, "results": ordered}
    (run_dir / "results.json").write_text(json.dumps(saved, default=as_json, indent=1))
    write_page(args.out, ordered, installs, started)
    for result in ordered:
        log(f"{result.key}: verdict digest {verdict_digest(result)}")
    log(f"wrote {args.out}")
    return 0


def as_json(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Install | SystemResult | Run):
        return vars(value)
    raise TypeError(type(value))


def load_run(run_dir: Path) -> tuple[str, list[Install], list[SystemResult]]:
    """A run's ``results.json``, for ``--page-from``."""
    saved = json.loads((run_dir / "results.json").read_text())
    installs = [Install(**{**i, "paths": {}}) for i in saved["installs"]]
    results = []
    for r in saved["results"]:
        runs = [Run(**run) for run in r.pop("runs")]
        results.append(SystemResult(**{"run": run_dir.resolve().name, **r}, runs=runs))
    return saved["started"], installs, results


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
