"""The dry run's web page (--html FILE), looked at in a real headless Chromium: one card per
distinct text with the right text, problems in red, no console errors, nothing fetched from
elsewhere, and post text shown as text (it is untrusted). A screenshot is kept as an artifact."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("METPOST_TEST_ARTIFACTS", PROJECT / ".test-artifacts"))
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"


def dry_run_page(fleet, tmp_path, message: str) -> tuple[Path, list[dict]]:
    page = tmp_path / "dry-run.html"
    args = ["send", "--all", "--message", message, "--dry-run", "--html", str(page)]
    outcome = fleet.run(args)
    assert page.exists(), outcome.stderr
    posts = json.loads(fleet.run([*args[:-2], "--json"]).stdout)["posts"]
    return page, posts


def test_the_page_is_self_contained_and_escapes_post_text(fleet, tmp_path):
    page, _ = dry_run_page(fleet, tmp_path, "{{ borough }}: " + HOSTILE)
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    assert oct(page.stat().st_mode & 0o777) in ("0o600", "0o644")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                    "chromium; .ci/run installs it)")
def test_the_page_in_a_real_browser(fleet, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is a test dependency")
    message = ("{{ borough }}: roads around the high street reopen at 6pm. "
               "Updates: met.police.uk/roads #Roads @metpoliceuk {{ '!' * (300 if "
               "account.name == 'camden-x' else 1) }} " + HOSTILE)
    page_file, posts = dry_run_page(fleet, tmp_path, message)
    expected_texts = {(post["platform"], post["text"]) for post in posts}
    over_long = [post for post in posts if not post["ok"]]
    assert [post["account"] for post in over_long] == ["camden-x"]

    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            tab = browser.new_page(viewport={"width": 412, "height": 915})  # a phone
            tab.on("console", lambda message: problems.append(message.text)
                   if message.type in ("error", "warning") else None)
            tab.on("pageerror", lambda error: problems.append(str(error)))
            tab.on("requestfailed", lambda request: problems.append(request.url))
            requests: list[str] = []
            tab.on("request", lambda request: requests.append(request.url))
            tab.goto(page_file.as_uri())
            cards = tab.locator("article.card")
            card_count = cards.count()
            shown = {(cards.nth(i).get_attribute("data-platform"),
                      cards.nth(i).locator(".text").inner_text())
                     for i in range(card_count)}
            red = tab.locator("article.card.problem")
            red_count = red.count()
            red_text = red.first.locator(".problems").inner_text() if red_count else ""
            title = tab.title()
            width = tab.evaluate("document.documentElement.scrollWidth")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / "dry-run-page.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [page_file.as_uri()]  # nothing fetched from anywhere else
    assert card_count == len(expected_texts)
    assert shown == expected_texts
    assert red_count == 1 and "too long for X" in red_text
    assert title.startswith("Dry run") and "owned" not in title  # the post's script never ran
    assert width <= 412  # readable on a phone: nothing wider than the screen
