"""The coding agents of the app matrix, as data: how each one is pointed at thinkwire.

``APPS`` holds one ``App`` per coding agent pinned in ``tests/apps`` (``npm install`` there):
the command that runs it non-interactively, the environment and the files written into its
(temporary) home, all with ``{url}`` where thinkwire's base URL goes (no ``/v1``: each app's
own setting adds what it needs). The test (``tests/server/test_server_app_matrix.py``) runs
exactly these, and ``docs/coding-agents.md`` shows them (``apps_table`` and ``app_section``,
checked by a test), so the page says what CI runs.

``run_app(app, url, home, cwd, proxy)`` runs one app on ``TASK`` with nothing from the
caller's environment but ``PATH`` (no real keys leak in), its home and working folder given,
``HTTPS_PROXY`` / ``HTTP_PROXY`` pointing at ``proxy`` (``tests.support.recording.Outbound``,
which forwards nothing) and ``NO_PROXY`` for loopback; bounded by ``timeout`` seconds, after
which its whole process group is killed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from thinkwire.ir.blocks import Dialect

APPS_DIR: Final = Path(__file__).resolve().parents[1] / "apps"
"""The npm project that pins the apps (``tests/apps/package.json``)."""
BIN: Final = APPS_DIR / "node_modules" / ".bin"
TASK: Final = "List the files in Docs, then tell me the code word."
"""The task each app gets. The scripted model calls the tools the app offers, in the order
offered, with ``Docs`` for a required string (the subject of the task): each app below offers
only read-only tools first, so the two tool steps read or list, and change nothing."""
TIMEOUT: Final = 120.0
DOC_URL: Final = "http://127.0.0.1:8000"
"""The base URL the docs show (``thinkwire serve``'s default port)."""
KEY: Final = "sk-thinkwire"
"""Any key: ``thinkwire serve`` without ``--api-keys-env`` takes any, but the apps insist on one."""


@dataclass(frozen=True, kw_only=True)
class App:
    """One coding agent and how it is pointed at thinkwire (module docstring)."""

    id: str
    name: str
    package: str
    binary: str
    dialect: Dialect
    """The API it speaks to thinkwire, as configured here."""
    upstreams: tuple[str, ...]
    """The strict emulators the gateway targets put behind it (``thinkwire emulate`` vendors):
    the one of its API first, then others (thinking carried across dialects)."""
    model: str
    """The model name it asks for."""
    calls: tuple[str, str]
    """The two tools the scripted model calls (the first two it offers): read-only ones."""
    argv: tuple[str, ...]
    """After the binary; ``{prompt}`` is the task."""
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    """Paths under its home -> file text."""
    sends_thinking: bool
    """Whether it sends its earlier thinking back itself (measured by the matrix): when not,
    only thinkwire's restore keeps the model's thinking across tool steps."""
    note: str
    """What the docs say about it beyond the settings."""
    reaches: tuple[str, ...] = ()
    """Hosts it still tries to reach with these settings (seen by the matrix)."""


def fill(text: str, url: str) -> str:
    """``text`` with thinkwire's base URL for ``{url}`` and the key for ``{key}``."""
    return text.replace("{url}", url).replace("{key}", KEY)


APPS: Final = (
    App(
        id="claude-code",
        name="Claude Code",
        package="@anthropic-ai/claude-code",
        binary="claude",
        dialect="anthropic",
        upstreams=("anthropic", "deepseek"),
        model="claude-opus-5-5",
        calls=("Glob", "Read"),
        argv=("-p", "{prompt}", "--tools", "Glob,Read", "--max-turns", "6"),
        env={
            "ANTHROPIC_BASE_URL": "{url}",
            "ANTHROPIC_API_KEY": "{key}",
            "ENABLE_TOOL_SEARCH": "false",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        },
        sends_thinking=True,
        note="Speaks Anthropic Messages and sends every thinking block back, signature and all, so it "
        "keeps its thinking on `thinkwire serve` and through the gateway alike. It runs on its "
        "default model here (`claude-opus-5-5` in this version, which also sends system messages "
        "inside `messages`); through the gateway, `--model` or `ANTHROPIC_MODEL` picks a name "
        "your config routes. `ENABLE_TOOL_SEARCH=false` keeps its tools plain: with tool search "
        "on it adds a `DeferredToolPlaceholder` tool, which the local model sees like any other "
        "and may call. `--tools` is only for the test (read-only tools).",
    ),
    App(
        id="codex",
        name="Codex CLI",
        package="@openai/codex",
        binary="codex",
        dialect="openai-responses",
        upstreams=("openai-responses", "anthropic", "deepseek"),
        model="gpt-5.1-codex",
        calls=("request_user_input", "view_image"),
        argv=("exec", "--skip-git-repo-check", "--sandbox", "read-only", "{prompt}"),
        env={"THINKWIRE_API_KEY": "{key}"},
        files={
            ".codex/config.toml": """model = "gpt-5.1-codex"
model_provider = "thinkwire"
check_for_update_on_startup = false

[model_providers.thinkwire]
name = "thinkwire"
base_url = "{url}/v1"
env_key = "THINKWIRE_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[features]
plugins = false
apps = false
shell_tool = false
unified_exec = false
""",
        },
        sends_thinking=True,
        note="Speaks OpenAI Responses and sends its reasoning items back in `input`. "
        "`plugins = false` and `apps = false` stop its start-up "
        "sync with GitHub and chatgpt.com; the two shell switches are only for the test, so the "
        "scripted model's tool calls cannot run a command.",
    ),
    App(
        id="qwen-code",
        name="Qwen Code",
        package="@qwen-code/qwen-code",
        binary="qwen",
        dialect="openai-chat",
        upstreams=("deepseek", "anthropic"),
        model="deepseek-reasoner",
        calls=("glob", "read_file"),
        argv=(
            "-p",
            "{prompt}",
            "--core-tools",
            "glob",
            "read_file",
            "--exclude-tools",
            "agent",
            "get_goal",
            "update_goal",
            "list_agents",
            "skill",
            "tool_call",
            "tool_search",
            "enter_worktree",
            "exit_worktree",
            "record_artifact",
            "report_findings",
            "send_message",
            "task_stop",
        ),
        env={
            "OPENAI_BASE_URL": "{url}/v1",
            "OPENAI_API_KEY": "{key}",
            "OPENAI_MODEL": "deepseek-reasoner",
        },
        files={
            ".qwen/settings.json": """{
  "security": {"auth": {"selectedType": "openai"}},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false}
}
""",
        },
        sends_thinking=True,
        note="Speaks OpenAI Chat and sends `reasoning_content` back on its assistant turns, as "
        "DeepSeek requires. `--core-tools` and `--exclude-tools` are only for the test (read-only "
        "tools).",
    ),
    App(
        id="cline",
        name="Cline",
        package="cline",
        binary="cline",
        dialect="anthropic",
        upstreams=("anthropic", "deepseek"),
        model="claude-sonnet-4-5",
        calls=("read_files", "search_codebase"),
        argv=("-P", "anthropic", "{prompt}"),
        env={"CLINE_SESSION_BACKEND_MODE": "local"},
        files={
            ".cline/data/settings/providers.json": """{
  "version": 1,
  "lastUsedProvider": "anthropic",
  "modes": {},
  "providers": {
    "anthropic": {
      "settings": {
        "provider": "anthropic",
        "apiKey": "{key}",
        "model": "claude-sonnet-4-5",
        "baseUrl": "{url}/v1"
      },
      "updatedAt": "2026-12-05T00:00:00.000Z",
      "tokenSource": "manual"
    }
  }
}
""",
            ".cline/data/settings/global-settings.json": '{"telemetryOptOut": true}\n',
        },
        sends_thinking=False,
        note="Its Anthropic provider sends the tool turns back without their thinking blocks: "
        "only thinkwire's restore keeps the thinking (a real Claude would refuse those turns "
        "with thinking on); the `unsupported reasoning metadata` warnings it prints are the AI "
        "SDK under it leaving out thinking that has no signature attached. `cline auth` cannot "
        "set a base URL for Anthropic; the file can, "
        "written whole (Cline replaces a file it does not take with its own defaults). "
        "`CLINE_SESSION_BACKEND_MODE=local` keeps the run in one process: by default Cline "
        "starts a hub daemon on the fixed port 25463 that outlives the run and serves later "
        "runs with the settings it started with.",
        reaches=("data.cline.bot",),
    ),
    App(
        id="droid",
        name="Factory Droid",
        package="@factory/cli",
        binary="droid",
        dialect="openai-chat",
        upstreams=("deepseek", "anthropic"),
        model="deepseek-reasoner",
        calls=("Read", "LS"),
        argv=("exec", "-m", "custom:thinkwire-0", "{prompt}"),
        env={"FACTORY_DROID_AUTO_UPDATE_ENABLED": "false"},
        files={
            ".factory/config.json": """{
  "custom_models": [
    {
      "model_display_name": "thinkwire",
      "model": "deepseek-reasoner",
      "base_url": "{url}/v1",
      "api_key": "{key}",
      "provider": "generic-chat-completion-api",
      "max_tokens": 4096
    }
  ]
}
""",
        },
        sends_thinking=False,
        note="Its Chat provider (`generic-chat-completion-api`) never sends `reasoning_content` "
        "back: only thinkwire's restore keeps the thinking (DeepSeek itself would refuse those "
        "turns). The model id is `custom:` plus the display name and its index in the list. "
        "`droid exec` runs read-only by default. It also sends tool-call ids back rewritten "
        "(`toolu_X` from Claude comes back as `call_X_0`); the restore still finds the turn, "
        "which the matrix checks with Claude's emulator behind the gateway too. Besides the "
        "hosts below it looks up `telemetry.factory.ai` and an OpenTelemetry collector on "
        "`run.app` by DNS itself, past the proxy settings (seen with strace).",
        reaches=("api.factory.ai", "telemetry.factory.ai"),
    ),
)


@dataclass
class Run:
    """How one run of an app ended: exit status (``None``: killed at the time limit) and output."""

    status: int | None
    stdout: str
    stderr: str

    def describe(self) -> str:
        said = f"exit {self.status}" if self.status is not None else "killed at the time limit"
        return f"{said}\n--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


def run_app(app: App, url: str, home: Path, cwd: Path, proxy: str, *, timeout: float = TIMEOUT) -> Run:
    """Run ``app`` on ``TASK`` against thinkwire at ``url`` (module docstring)."""
    for relative, text in app.files.items():
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fill(text, url))
    node = Path(shutil.which("node") or "/usr/bin/node").parent
    env = {
        "PATH": f"{node}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "https_proxy": proxy,
        "http_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **{name: fill(value, url) for name, value in app.env.items()},
    }
    argv = [str(BIN / app.binary), *(a.replace("{prompt}", TASK) for a in app.argv)]
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
        return Run(process.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return Run(None, out, err)


GATEWAY_TITLES: Final = {
    "anthropic": "gateway → Claude",
    "openai-responses": "gateway → OpenAI Responses",
    "deepseek": "gateway → DeepSeek",
}
"""The docs' name for the gateway target over each emulator."""


def pinned(app: App) -> str:
    """The version of ``app`` that ``tests/apps/package.json`` pins."""
    dependencies: dict[str, str] = json.loads((APPS_DIR / "package.json").read_text())["dependencies"]
    return dependencies[app.package]


def apps_table() -> str:
    """The docs' table of the matrix: one row per app, a column per target (✓: run and passed
    in CI; -: not run)."""
    head = ["app", "version", "API", "model asked for", "sends thinking back", "thinkwire serve"]
    head += list(GATEWAY_TITLES.values())
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for app in APPS:
        back = "yes" if app.sends_thinking else "no: restored by thinkwire"
        cells = [app.name, f"`{app.package}@{pinned(app)}`", app.dialect, f"`{app.model}`", back, "✓"]
        cells += ["✓" if vendor in app.upstreams else "-" for vendor in GATEWAY_TITLES]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def app_section(app: App, url: str = DOC_URL) -> str:
    """The docs' section for ``app``: what to know, its settings, what it still reaches."""
    reaches = ", ".join(f"`{host}`" for host in app.reaches) or "nothing"
    return (
        f"### {app.name}\n\n{textwrap.fill(app.note, 96)}\n\n{settings_markdown(app, url)}\n\n"
        f"With these settings it still tries to reach: {reaches}."
    )


def settings_markdown(app: App, url: str = DOC_URL) -> str:
    """The docs' settings for ``app``: its files, environment and command, as the matrix runs them."""
    parts: list[str] = []
    for relative, text in app.files.items():
        language = {".toml": "toml", ".json": "json"}.get(Path(relative).suffix, "")
        parts.append(f"`~/{relative}`:\n\n```{language}\n{fill(text, url).rstrip()}\n```")
    lines = [f"export {name}={fill(value, url)}" for name, value in app.env.items()]
    argv = " ".join(shlex.quote(a.replace("{prompt}", TASK)) for a in app.argv)
    lines.append(f"{app.binary} {argv}")
    parts.append("```sh\n" + "\n".join(lines) + "\n```")
    return "\n\n".join(parts)
