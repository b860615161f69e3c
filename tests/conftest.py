"""Shared fixtures: an isolated environment, a CLI runner, and configs written to tmp dirs."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from metpost.cli import cli
from tests.postgres_server import (  # noqa: F401 — fixtures and the report header
    TEST_LEDGER,
    ledger_rows,
    ledger_text,
    postgres_database,
    postgres_server,
    pytest_report_header,
)

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test sees the developer's config, secrets or home directory."""
    for name in list(os.environ):
        if name.startswith(("METPOST_", "MPS_")):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    # Only metpost's own platforms, and those a test installs: never a plugin that happens to
    # be installed in the environment.
    monkeypatch.setenv("METPOST_PLUGINS", "")


@dataclass
class Outcome:
    """What a CLI run produced."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run(args: list[str], env: Mapping[str, str] | None = None, input: str | None = None,
        cwd: Path | None = None) -> Outcome:
    """Run the CLI in-process, as a user would from a shell (stdin is not a terminal)."""
    runner = CliRunner()
    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        result = runner.invoke(cli, args, env=dict(env or {}), input=input, prog_name="metpost",
                               catch_exceptions=False)
    finally:
        os.chdir(old)
    return Outcome(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli_run():
    return run


def write_project(root: Path, config: str, templates: Mapping[str, str] | None = None) -> Path:
    """Write accounts.yaml (dedented) and templates/ under ``root``; return the config path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "accounts.yaml"
    path.write_text(textwrap.dedent(config).lstrip(), encoding="utf-8")
    folder = root / "templates"
    folder.mkdir(exist_ok=True)
    for name, body in (templates or {}).items():
        (folder / name).write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path):
    """A function writing a small project in tmp_path."""
    def make(config: str, templates: Mapping[str, str] | None = None) -> Path:
        return write_project(tmp_path / "project", config, templates)
    return make


@pytest.fixture
def shipped_config() -> Iterator[Path]:
    yield PROJECT / "accounts.yaml"


X_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


@dataclass
class Fleet:
    """Fake X and Graph servers, a config whose accounts point at them, and their secrets."""

    x: Any
    graph: Any
    config: Path
    env: dict[str, str]
    root: Path
    ledger: str  # a SQLite path, or a PostgreSQL URL under METPOST_TEST_LEDGER=postgres

    def run(self, args: list[str], env: Mapping[str, str] | None = None,
            input: str | None = None) -> Outcome:
        """Run a metpost command against this fleet (config, ledger and secrets filled in)."""
        command = args[0]
        extra = ["--config", str(self.config)] if command in (
            "send", "retry", "retract", "check", "accounts", "templates", "due",
            "schedule", "approve", "apply") else []
        if command in ("send", "retry", "retract", "history", "show", "due", "approve", "apply",
                       "audit"):
            extra += ["--ledger", self.ledger]
        if command in ("accounts", "templates", "schedule"):
            args = [*args[:2], *extra, *args[2:]]
        else:
            args = [command, *extra, *args[1:]]
        return run(args, env={**self.env, **(env or {})}, input=input)

    def ledger_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows ``sql`` selects from the fleet's ledger, whichever its backend."""
        return ledger_rows(self.ledger, sql)

    def ledger_execute(self, sql: str) -> None:
        """Change the ledger behind metpost's back, as another run or a crash would."""
        from tests.postgres_server import ledger_execute

        ledger_execute(self.ledger, sql)

    def ledger_text(self) -> str:
        """All the fleet's ledger stores, as text (to look for secrets in)."""
        return ledger_text(self.ledger)

    def x_token(self, slug: str) -> str:
        """The X access token of a fleet account ("hackney", "camden")."""
        return self.env[f"{slug.upper()}_X_ACCESS_TOKEN"]

    def x_texts(self, username: str) -> list[str]:
        return [post.text for post in self.x.live_posts(username)]

    def page_texts(self, page_id: str) -> list[str]:
        return [post.message for post in self.graph.live_posts(page_id)]


PUBLIC_SAFETY_ONLY = "public_safety_only: true"
FLEET_ACCOUNTS = (("hackney", "Hackney", "CE", "MPSHackney", "1001"),
                  ("camden", "Camden", "CN", "MPSCamden", "1002"))


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a platform plugin the way pip would: a module and a dist-info folder with its
    entry point, on sys.path. Call with (entry-point name, module name, class name, source)."""
    from metpost.plugins import platform_classes

    site = tmp_path / "site"

    def install(name: str, module: str, cls: str, source: str) -> None:
        info = site / f"{module}-1.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n",
            encoding="utf-8")
        (info / "entry_points.txt").write_text(
            f"[metpost.platforms]\n{name} = {module}:{cls}\n", encoding="utf-8")
        if str(site) not in __import__("sys").path:
            monkeypatch.syspath_prepend(str(site))
        allowed = os.environ.get("METPOST_PLUGINS", "")
        monkeypatch.setenv("METPOST_PLUGINS", f"{allowed},{name}" if allowed else name)
        platform_classes.cache_clear()

    yield install
    platform_classes.cache_clear()


@pytest.fixture
def fleet(tmp_path: Path, request: pytest.FixtureRequest):
    """Two boroughs with an X account and a Facebook page each, on local fake servers, and a
    ledger: a SQLite file, or a fresh PostgreSQL database under METPOST_TEST_LEDGER=postgres."""
    from tests.fake_platforms import FakeGraph, FakeX

    with FakeX() as x, FakeGraph() as graph:
        env: dict[str, str] = {}
        lines = ["boroughs:"]
        lines += [f"  - {{name: {name}, bcu: {bcu}}}" for _, name, bcu, _, _ in FLEET_ACCOUNTS]
        lines.append("accounts:")
        for slug, name, bcu, handle, page in FLEET_ACCOUNTS:
            secrets = {key: f"{slug}-{key}-s3cr3t-value" for key in X_KEYS}
            # X access tokens start with the user's id, as real ones do.
            secrets["access_token"] = f"{page}-{secrets['access_token']}"
            x.add_user(page, handle, secrets["consumer_key"], secrets["access_token"])
            env.update({f"{slug.upper()}_X_{key.upper()}": value
                        for key, value in secrets.items()})
            creds = ", ".join(f"{key}: '${{{slug.upper()}_X_{key.upper()}}}'" for key in X_KEYS)
            lines += [f"  - name: {slug}-x", "    platform: x", f"    handle: '@{handle}'",
                      f"    borough: {name}", f"    tags: [borough, bcu-{bcu.lower()}]",
                      f"    api_url: {x.url}", f"    credentials: {{{creds}}}"]
            token = f"{slug}-page-token-s3cr3t"
            graph.add_page(page, name, token)
            env[f"{slug.upper()}_FB_TOKEN"] = token
            lines += [f"  - name: {slug}-facebook", "    platform: facebook",
                      f"    page_id: '{page}'", f"    borough: {name}",
                      f"    tags: [borough, bcu-{bcu.lower()}]", f"    api_url: {graph.url}",
                      f"    credentials: {{page_access_token: '${{{slug.upper()}_FB_TOKEN}}'}}"]
        # The fleet's messages stand for public-safety announcements, the exception to X's rule
        # against the same content on several accounts; tests/test_x_rules.py takes it away.
        # Last, so that the accounts keep their lines.
        lines.append(PUBLIC_SAFETY_ONLY)
        root = tmp_path / "fleet"
        config = write_project(root, "\n".join(lines) + "\n", {
            "rumour-control.j2": """\
                ---
                description: Counter a rumour.
                vars:
                  rumour: What people are saying
                ---
                {{ borough }}: rumours of {{ rumour }} are untrue.
                Updates: {{ account.name }}.
                """,
        })
        ledger = (request.getfixturevalue("postgres_database") if TEST_LEDGER == "postgres"
                  else str(root / "ledger.sqlite3"))
        yield Fleet(x=x, graph=graph, config=config, env=env, root=root, ledger=ledger)
