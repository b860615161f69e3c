"""Atom feeds: a valid RFC 4287 file per account, an entry per post with a permanent id, nothing
added by a rerun, entries removed by retract, and writers that never lose each other's entries."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest

from metpost.platforms.api import Destination, PostRequest, PublishError
from metpost.platforms.feed import FeedPlatform, entry_id
from tests.conftest import Outcome, run, write_project

ATOM = "{http://www.w3.org/2005/Atom}"
CONFIG = """\
boroughs: [{name: Hackney, bcu: CE}, {name: Camden, bcu: CN}]
accounts:
  - name: hackney-feed
    platform: feed
    borough: Hackney
    path: feeds/hackney.xml
    title: MPS Hackney news
    link: https://www.met.police.uk/area/hackney/
  - name: camden-feed
    platform: feed
    borough: Camden
    path: feeds/camden.xml
"""


@pytest.fixture
def project_dir(tmp_path) -> Path:
    config = write_project(tmp_path / "project", CONFIG)
    (config.parent / "feeds").mkdir()
    return config.parent


def send(project_dir: Path, *more: str, message: str = "{{ borough }}: roads reopen at 6pm.\n"
         "Diversions end at 7pm.", cwd: Path | None = None) -> Outcome:
    return run(["send", "--config", str(project_dir / "accounts.yaml"), "--ledger",
                str(project_dir.parent / "ledger.sqlite3"), "--all", "-m", message, "--yes",
                "--json", *more], cwd=cwd)


def atom(path: Path) -> ElementTree.Element:
    """The feed, checked for what RFC 4287 requires of a feed and of each entry."""
    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{ATOM}feed"
    for element in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{element}")) == 1, element  # 4.1.1: exactly one
    entries = root.findall(f"{ATOM}entry")
    # 4.1.1: a feed without author must have an author in every entry.
    assert root.find(f"{ATOM}author/{ATOM}name") is not None or all(
        e.find(f"{ATOM}author/{ATOM}name") is not None for e in entries)
    for entry in entries:
        for element in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{element}")) == 1, element  # 4.1.2
        # 4.1.2: without atom:content an entry needs an alternate link.
        assert entry.find(f"{ATOM}content") is not None or entry.find(f"{ATOM}link") is not None
        for moment in ("updated", "published"):
            text = entry.findtext(f"{ATOM}{moment}")
            assert text is None or datetime.fromisoformat(text).tzinfo is not None  # 3.3
        assert uuid.UUID(entry.findtext(f"{ATOM}id", "").removeprefix("urn:uuid:"))
    return root


def texts(path: Path) -> list[str]:
    return [e.findtext(f"{ATOM}content", "") for e in atom(path).findall(f"{ATOM}entry")]


def test_each_post_is_an_entry_of_a_valid_feed_beside_the_accounts_file(project_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outcome = send(project_dir, cwd=elsewhere)  # paths are the config's, not the shell's
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert not (elsewhere / "feeds").exists()
    hackney = atom(project_dir / "feeds" / "hackney.xml")
    assert hackney.findtext(f"{ATOM}title") == "MPS Hackney news"
    assert hackney.findtext(f"{ATOM}author/{ATOM}name") == "MPS Hackney news"
    [link] = hackney.findall(f"{ATOM}link")
    assert (link.get("href"), link.get("rel")) == ("https://www.met.police.uk/area/hackney/",
                                                   "alternate")
    [entry] = hackney.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Hackney: roads reopen at 6pm."
    assert entry.findtext(f"{ATOM}content") == ("Hackney: roads reopen at 6pm.\n"
                                                "Diversions end at 7pm.")
    assert entry.find(f"{ATOM}content").get("type") == "text"
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    assert posts["hackney-feed"]["remote_id"] == entry.findtext(f"{ATOM}id")
    assert posts["hackney-feed"]["url"] == (
        "https://www.met.police.uk/area/hackney/#"
        + entry.findtext(f"{ATOM}id").removeprefix("urn:uuid:"))
    camden = atom(project_dir / "feeds" / "camden.xml")
    assert camden.findtext(f"{ATOM}title") == "camden-feed"
    assert texts(project_dir / "feeds" / "camden.xml") == [
        "Camden: roads reopen at 6pm.\nDiversions end at 7pm."]
    assert sorted(os.listdir(project_dir / "feeds")) == [
        ".camden.xml.lock", ".hackney.xml.lock", "camden.xml", "hackney.xml"]  # no temp files


def test_a_rerun_adds_nothing_and_another_post_goes_first(project_dir):
    assert send(project_dir).exit_code == 0
    feed = project_dir / "feeds" / "hackney.xml"
    before = feed.read_bytes()
    rerun = send(project_dir)
    assert {p["status"] for p in json.loads(rerun.stdout)["posts"]} == {"already sent"}
    assert feed.read_bytes() == before
    assert send(project_dir, message="{{ borough }}: all clear").exit_code == 0
    assert texts(feed) == ["Hackney: all clear",
                           "Hackney: roads reopen at 6pm.\nDiversions end at 7pm."]


def test_publishing_a_post_already_in_the_feed_changes_nothing(project_dir):
    client = feed_client(project_dir / "feeds" / "x.xml")
    request = PostRequest(text="Roads reopen", idempotency_key="k-1", first_attempt_at=1.8e9)
    first = client.publish(request)
    written = client.path.read_bytes()
    assert client.publish(request) == first
    assert feed_client(client.path).publish(request) == first
    assert client.path.read_bytes() == written
    assert first.remote_id == entry_id("k-1") == entry_id("k-1")
    [entry] = atom(client.path).findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}updated") == "2027-01-15T08:00:00+00:00"  # the first attempt


def test_retract_removes_the_entry_and_leaves_a_valid_feed(project_dir):
    assert send(project_dir).exit_code == 0
    (project_dir / "feeds" / "camden.xml").unlink()  # one feed removed by hand: already gone
    outcome = run(["retract", "--config", str(project_dir / "accounts.yaml"), "--ledger",
                   str(project_dir.parent / "ledger.sqlite3"), "last", "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert {p["status"] for p in json.loads(outcome.stdout)["posts"]} == {"retracted"}
    assert texts(project_dir / "feeds" / "hackney.xml") == []


def feed_client(path: Path, account: str = "hackney-feed") -> FeedPlatform:
    return FeedPlatform(Destination(account=account, settings={"path": str(path)}))


def test_writers_of_one_file_never_lose_each_others_entries(project_dir):
    shared = project_dir / "feeds" / "shared.xml"
    clients = [feed_client(shared, f"account-{n}") for n in range(24)]
    start = threading.Barrier(len(clients))

    def publish(number: int) -> None:
        start.wait()
        clients[number].publish(PostRequest(text=f"post {number}", idempotency_key=f"k{number}"))

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(texts(shared)) == sorted(f"post {n}" for n in range(len(clients)))


def test_two_processes_writing_one_file_keep_both_entries(project_dir):
    import subprocess
    import sys

    shared = project_dir / "feeds" / "shared.xml"
    script = ("import sys\nfrom metpost.platforms.api import Destination, PostRequest\n"
              "from metpost.platforms.feed import FeedPlatform\n"
              "client = FeedPlatform(Destination(account='a', settings={'path': sys.argv[1]}))\n"
              "for n in range(15):\n"
              "    client.publish(PostRequest(text=f'{sys.argv[2]} {n}', "
              "idempotency_key=f'{sys.argv[2]}-{n}'))\n")
    workers = [subprocess.Popen([sys.executable, "-c", script, str(shared), name])
               for name in ("one", "two")]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    assert len(texts(shared)) == 30


def test_recent_posts_are_the_entries_since_a_time(project_dir):
    client = feed_client(project_dir / "feeds" / "x.xml")
    now = time.time()
    for number, age in enumerate((300, 100)):
        client.publish(PostRequest(text=f"post {number}", idempotency_key=f"k{number}",
                                   first_attempt_at=now - age))
    listed = client.recent_posts(datetime.fromtimestamp(now - 200, UTC))
    assert [(p.text, p.remote_id) for p in listed] == [("post 1", entry_id("k1"))]
    assert client.same_post(PostRequest(text="post  1\n", idempotency_key="x"), listed[0])


def test_a_file_that_is_not_a_feed_is_left_alone(project_dir):
    feed = project_dir / "feeds" / "hackney.xml"
    feed.write_text("<html>not a feed</html>", encoding="utf-8")
    outcome = send(project_dir)
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    assert posts["hackney-feed"]["status"] == "failed"
    assert posts["hackney-feed"]["error"] == (
        f"{feed} is not an Atom feed; move it aside and metpost starts a new one")
    assert feed.read_text(encoding="utf-8") == "<html>not a feed</html>"
    assert posts["camden-feed"]["status"] == "sent"


def test_a_folder_that_does_not_exist_fails_the_post_and_leaves_no_file(tmp_path):
    client = feed_client(tmp_path / "missing" / "x.xml")
    with pytest.raises(PublishError) as caught:
        client.publish(PostRequest(text="hello", idempotency_key="k"))
    assert not caught.value.maybe_posted and not caught.value.retry_safe
    assert "missing" in caught.value.reason


@pytest.mark.parametrize("obstacle", ["missing", "a file"])
def test_a_feed_whose_folder_is_missing_stops_the_broadcast_before_any_post(project_dir,
                                                                             obstacle):
    (project_dir / "feeds").rmdir()
    if obstacle == "a file":
        (project_dir / "feeds").write_text("", encoding="utf-8")
    what = "does not exist" if obstacle == "missing" else "is not a folder"
    expected = [f"{name}-feed: the feed's folder {project_dir / 'feeds'} {what}; create it, or "
                "correct the account's path" for name in ("hackney", "camden")]
    checked = run(["check", "--config", str(project_dir / "accounts.yaml")])
    assert (checked.exit_code, checked.error_lines) == (2, [f"metpost: error: {line}"
                                                            for line in expected])
    outcome = send(project_dir)
    assert outcome.exit_code == 2
    assert [f"metpost: error: {line}" for line in expected] == outcome.error_lines[:2]
    assert not (project_dir.parent / "ledger.sqlite3").exists() or json.loads(
        run(["history", "--ledger", str(project_dir.parent / "ledger.sqlite3"), "--json"]
            ).stdout) == []
    assert not (project_dir / "feeds").is_dir()


def test_text_xml_cannot_hold_is_refused_before_sending():
    assert FeedPlatform.check("bell \x07 here") == [
        "contains U+0007, which an Atom feed cannot hold"]
    assert FeedPlatform.check("tab\tand\nnewline") == []


def test_the_path_is_required(tmp_path):
    config = write_project(tmp_path, "accounts:\n  - name: f\n    platform: feed\n")
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    assert outcome.error_lines[0].endswith(
        "accounts[0]: missing required key 'path' for platform 'feed'")
