"""A Mastodon account and a Bluesky account on local fakes, with a project and a ledger (a
SQLite file, or a fresh PostgreSQL database under METPOST_TEST_LEDGER=postgres), for the
thread and image tests. Test modules wrap these in fixtures of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_LEDGER, Outcome, run, write_project
from tests.fake_platforms.bluesky_api import FakeBluesky
from tests.fake_platforms.mastodon_api import FakeMastodon


@dataclass
class Service:
    """One fake platform, a project whose one account posts to it, and a ledger."""

    fake: FakeMastodon | FakeBluesky
    config: Path
    ledger: str
    env: dict[str, str]

    def run(self, args: list[str]) -> Outcome:
        command, *rest = args
        return run([command, "--config", str(self.config), "--ledger", self.ledger, *rest],
                   env=self.env)

    def send(self, text: str, *more: str) -> Outcome:
        return self.run(["send", "--all", "-m", text, "--yes", "--json", *more])


def ledger_for(request: pytest.FixtureRequest, root: Path) -> str:
    """A SQLite file under ``root``, or a fresh PostgreSQL database."""
    return (request.getfixturevalue("postgres_database") if TEST_LEDGER == "postgres"
            else str(root / "ledger.sqlite3"))


@contextmanager
def mastodon_service(root: Path, ledger: str) -> Iterator[Service]:
    """@mpshackney@social.example, posting as hackney-mastodon."""
    with FakeMastodon() as fake:
        fake.add_account("1001", "mpshackney", "hackney-mastodon-token")
        config = write_project(root / "project", f"""\
            boroughs: [{{name: Hackney, bcu: CE}}]
            accounts:
              - name: hackney-mastodon
                platform: mastodon
                handle: "@mpshackney@social.example"
                borough: Hackney
                api_url: {fake.url}
                credentials: {{access_token: '${{HACKNEY_MASTODON_TOKEN}}'}}
            """)
        yield Service(fake, config, ledger, {"HACKNEY_MASTODON_TOKEN": "hackney-mastodon-token"})


@contextmanager
def bluesky_service(root: Path, ledger: str) -> Iterator[Service]:
    """mpshackney.bsky.social, posting as hackney-bluesky."""
    with FakeBluesky() as fake:
        fake.add_account("did:plc:hackney0000000000000001", "mpshackney.bsky.social",
                         "hackney-app-pass")
        config = write_project(root / "project", f"""\
            boroughs: [{{name: Hackney, bcu: CE}}]
            accounts:
              - name: hackney-bluesky
                platform: bluesky
                handle: mpshackney.bsky.social
                borough: Hackney
                api_url: {fake.url}
                credentials: {{app_password: '${{HACKNEY_BSKY_PASSWORD}}'}}
            """)
        yield Service(fake, config, ledger, {"HACKNEY_BSKY_PASSWORD": "hackney-app-pass"})
