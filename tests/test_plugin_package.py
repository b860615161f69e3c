"""Plugins as a third party ships them: a package installed with pip beside metpost, found by
its entry point, listed by ``metpost platforms list`` and posted through; a broken one costs a
warning, not every command; platform modules import no client library until an account of
theirs is used."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from metpost.plugins import platform_classes
from tests.conftest import PROJECT, run, write_project

EXAMPLE = PROJECT / "tests" / "plugin_example"


def build_wheel(source: Path, out: Path) -> Path:
    """A wheel of the project at ``source``, from what its build backend makes: setuptools'
    ``build_py`` decides the modules and package data, ``egg_info`` the metadata and entry
    points; they are zipped as ``bdist_wheel`` would (which needs the ``wheel`` package, not
    part of the test environment)."""
    build, info = out / "build", out / "info"
    info.mkdir(parents=True)
    setup = [sys.executable, "-c", "from setuptools import setup; setup()", "-q"]
    for command in (["build_py", "-d", str(build)], ["egg_info", "--egg-base", str(info)]):
        subprocess.run([*setup, *command], cwd=source, check=True, capture_output=True)
    [egg] = info.glob("*.egg-info")
    metadata = (egg / "PKG-INFO").read_text(encoding="utf-8")
    fields = dict(re.findall(r"^(Name|Version): (.+)$", metadata, re.MULTILINE))
    dist = f"{fields['Name'].replace('-', '_')}-{fields['Version']}"
    files = {path.relative_to(build).as_posix(): path.read_bytes()
             for path in sorted(build.rglob("*")) if path.is_file()}
    files[f"{dist}.dist-info/METADATA"] = metadata.encode()
    files[f"{dist}.dist-info/entry_points.txt"] = (egg / "entry_points.txt").read_bytes()
    files[f"{dist}.dist-info/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: metpost-tests\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist}.dist-info/RECORD"] = ("\n".join([*record, f"{dist}.dist-info/RECORD,,"])
                                         + "\n").encode()
    wheel = out / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with metpost and the example plugin, each installed by pip from a wheel of
    its own project; metpost's dependencies come from the test environment."""
    root = tmp_path_factory.mktemp("plugin-venv")
    source = root / "metpost-src"
    shutil.copytree(PROJECT / "metpost", source / "metpost",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    plugin = root / "plugin-src"
    shutil.copytree(EXAMPLE, plugin, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                   "*.egg-info"))
    wheels = [build_wheel(source, root / "metpost-wheel"),
              build_wheel(plugin, root / "plugin-wheel")]
    target = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                "get_paths()['purelib'])"], check=True, capture_output=True,
                               text=True).stdout.strip())
    # metpost's dependencies (click, requests, ...) from the test environment: a plain path, so
    # that its editable install of metpost is not picked up.
    (site / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "--quiet", "--disable-pip-version-check",
                    *map(str, wheels)], check=True, capture_output=True, timeout=300)
    return target


def in_venv(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items()
           if name not in ("METPOST_PLUGINS", "PYTHONPATH")}
    # -P and a folder outside the project: the installed metpost, never the project's own.
    return subprocess.run([str(venv / "bin" / "python"), "-P", "-m", "metpost", *args],
                          env=env, capture_output=True, text=True, cwd=cwd or venv.parent,
                          timeout=120)


def test_an_installed_plugin_is_listed_and_posted_through(venv, tmp_path):
    listed = in_venv(venv, "platforms", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    platforms = {p["name"]: p for p in json.loads(listed.stdout)["platforms"]}
    assert {"x", "facebook", "mastodon", "bluesky", "webhook", "feed", "noticeboard"} <= set(
        platforms)
    board = platforms["noticeboard"]
    assert (board["package"], board["version"], board["builtin"]) == (
        "metpost-noticeboard", "1.0.0", False)
    assert board["limit"] == {"max_length": 200, "unit": "characters", "per_account": "width"}
    assert platforms["x"]["builtin"] is True
    config = write_project(tmp_path / "project", """\
        boroughs: [{name: Hackney, bcu: CE}]
        accounts:
          - name: hackney-board
            platform: noticeboard
            borough: Hackney
            board: boards/hackney.jsonl
        """)
    (config.parent / "boards").mkdir()
    args = ["send", "--config", str(config), "--ledger", str(tmp_path / "ledger.sqlite3"),
            "--all", "-m", "{{ borough }}: station open", "--yes", "--json"]
    sent = in_venv(venv, *args, cwd=tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    again = in_venv(venv, *args, "--again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    notices = (config.parent / "boards" / "hackney.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in notices] == ["Hackney: station open"] * 2


def test_metpost_ships_its_type_information(venv):
    found = subprocess.run([str(venv / "bin" / "python"), "-P", "-c",
                            "import metpost, pathlib; print(pathlib.Path(metpost.__file__)"
                            ".parent)"], capture_output=True, text=True, check=True,
                           cwd=venv.parent)
    package = Path(found.stdout.strip())
    assert package.is_relative_to(venv), package  # the installed copy, not the project's
    assert (package / "py.typed").is_file()


# -- broken and unwanted plugins -------------------------------------------------------------------

BROKEN = "import no_such_module_anywhere\n"
NOT_A_PLATFORM = "class Board:\n    name = 'board'\n"
WRONG_NAME = '''
from metpost.platforms.api import Platform, TextLimits


class Board(Platform):
    name = "pinboard"
    title = "Board"
    limits = TextLimits(max_length=10)

    def publish(self, request):
        raise NotImplementedError
'''


@pytest.mark.parametrize("source, why", [
    (BROKEN, "failed to load: ModuleNotFoundError: No module named 'no_such_module_anywhere' "
             "(reinstall or remove it, or leave it out with METPOST_PLUGINS); skipped"),
    (NOT_A_PLATFORM, "is not a metpost Platform subclass; fix the plugin; skipped"),
    (WRONG_NAME, "calls itself 'pinboard'; the names must match; skipped"),
])
def test_a_broken_plugin_is_reported_once_and_every_command_still_works(install_plugin, project,
                                                                        source, why):
    module = f"metpost_board_{abs(hash(source))}"  # a module of its own for each case
    install_plugin("board", module, "Board", source)
    listed = run(["platforms", "list", "--json"])
    assert listed.exit_code == 0
    assert listed.error_lines == [
        f"metpost: warning: platform plugin 'board' ({module}:Board) {why}"]
    names = [p["name"] for p in json.loads(listed.stdout)["platforms"]]
    assert names == ["bluesky", "facebook", "feed", "mastodon", "webhook", "x"]
    config = project("accounts:\n  - {name: feed-1, platform: feed, path: f.xml}\n")
    assert run(["check", "--config", str(config)]).exit_code == 0


def test_a_plugin_cannot_take_a_builtin_platforms_name(install_plugin):
    install_plugin("x", "metpost_fake_x", "Board", WRONG_NAME.replace('"pinboard"', '"x"'))
    assert platform_classes()["x"].__module__ == "metpost.platforms.x"


def test_only_the_plugins_metpost_plugins_names_are_loaded(install_plugin, monkeypatch):
    install_plugin("board", "metpost_named_board", "Board",
                   WRONG_NAME.replace('"pinboard"', '"board"'))
    assert "board" in platform_classes()
    monkeypatch.setenv("METPOST_PLUGINS", "")
    platform_classes.cache_clear()
    assert "board" not in platform_classes()
    monkeypatch.delenv("METPOST_PLUGINS")
    platform_classes.cache_clear()
    assert "board" in platform_classes()  # unset: every installed plugin


def test_the_list_shows_limits_credentials_and_capabilities():
    outcome = run(["platforms", "list"])
    assert outcome.exit_code == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in outcome.stdout.splitlines()}
    assert rows["Name"] == ["Name", "Title", "Limit", "Credentials", "Can", "Package"]
    assert rows["mastodon"][2:5] == ["500 characters (per account: max_characters)",
                                     "access_token", "idempotent for 1 hour, list, delete, "
                                     "threads, media (4), verify"]
    assert rows["webhook"][3] == "secret (optional), url (optional)"
    assert rows["bluesky"][2] == "300 graphemes"
    listed = {p["name"]: p for p in json.loads(run(["platforms", "list", "--json"]).stdout)[
        "platforms"]}
    assert listed["webhook"]["optional_credential_keys"] == ["secret", "url"]
    assert listed["mastodon"]["capabilities"]["idempotency_window"] == 3600.0
    assert listed["feed"]["account_fields"] == {"path": True, "title": False, "link": False}


# -- start-up cost ---------------------------------------------------------------------------------

@pytest.mark.parametrize("module, libraries", [
    ("metpost.platforms.bluesky", ["atproto", "atproto_client", "httpx"]),
    ("metpost.platforms.mastodon", ["mastodon", "requests"]),
    ("metpost.platforms.feed", ["feedgen", "lxml"]),
    ("metpost.platforms.webhook", ["requests"]),
])
def test_a_platform_module_imports_no_client_library(module, libraries):
    probe = textwrap.dedent(f"""
        import sys, importlib
        importlib.import_module({module!r})
        from metpost.plugins import platform_classes
        platform_classes()
        print(sorted({{name.split(".")[0] for name in sys.modules}} & set({libraries!r})))
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]", result.stdout
