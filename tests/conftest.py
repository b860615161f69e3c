"""Shared fixtures: an isolated environment, a CLI runner, and configs written to tmp dirs."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from metpost.cli import cli

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
