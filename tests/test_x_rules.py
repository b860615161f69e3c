"""X's rule against the same content on several accounts: found, refused without
--public-safety, recorded with it, and avoided with --x-repost-from (one post, then reposts,
each exactly once), against the fakes through the real tweepy and facebook-sdk."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PUBLIC_SAFETY_ONLY


@pytest.fixture
def strict(fleet):
    """The fleet without its standing public-safety declaration: X's rule applies."""
    text = fleet.config.read_text()
    assert PUBLIC_SAFETY_ONLY in text
    fleet.config.write_text(text.replace(PUBLIC_SAFETY_ONLY + "\n", ""))
    return fleet


def send(fleet, message: str, *extra: str):
    return fleet.run(["send", "--all", "--message", message, "--yes", *extra])


def posts_made(fleet) -> int:
    return len([r for r in fleet.x.requests + fleet.graph.requests if r.method == "POST"])


GUIDANCE = ("metpost: error: X's rules forbid identical or substantially similar posts on "
            "several accounts (docs.x.com/developer-terms/policy); a public-safety announcement "
            "is the exception: add --public-safety if this is one, or --x-repost-from ACCOUNT "
            "to post once and repost it from the other X accounts")


def test_identical_x_posts_are_refused_and_nothing_is_sent(strict):
    outcome = send(strict, "Roads around the market reopen at 6pm.")
    assert outcome.exit_code == 2
    assert outcome.error_lines[-3:] == [
        "metpost: error: X posts on 2 accounts (hackney-x, camden-x): identical texts",
        GUIDANCE, "metpost: error: nothing was sent"]
    assert strict.x.request_count == 0 and strict.graph.request_count == 0


@pytest.mark.parametrize("message", [
    "{{ borough }}: roads around the market reopen at 6pm.",
    # (The fleet's Facebook pages have no handle: they are named by the account's name.)
    "Roads reopen at 6pm. Updates from {{ account.handle if account.handle is defined else "
    "account.name }}.",
    "Roads in {{ borough.bcu }} reopen at 6pm ({{ account.name }}).",
])
def test_texts_that_differ_only_in_each_accounts_own_values_are_refused(strict, message):
    outcome = send(strict, message)
    assert outcome.exit_code == 2
    assert outcome.error_lines[-3:] == [
        "metpost: error: X posts on 2 accounts (hackney-x, camden-x): texts identical once "
        "each account's own values (borough, handle, command unit, personality, account vars) "
        "are masked", GUIDANCE, "metpost: error: nothing was sent"]
    assert posts_made(strict) == 0


def test_texts_that_really_differ_go_out(strict):
    message = ("{% if borough.name == 'Hackney' %}Mare Street reopens at 6pm.{% else %}"
               "Camden High Street stays closed tonight.{% endif %}")
    outcome = send(strict, message)
    assert outcome.exit_code == 0, outcome.stderr
    assert posts_made(strict) == 4


def test_facebook_pages_are_not_subject_to_x_rule(strict):
    outcome = send(strict, "Roads reopen at 6pm.", "--platform", "facebook")
    assert outcome.exit_code == 0, outcome.stderr
    assert strict.page_texts("1001") == strict.page_texts("1002") == ["Roads reopen at 6pm."]


def test_the_dry_run_says_so_per_group(strict):
    outcome = strict.run(["send", "--all", "--message", "{{ borough }}: roads reopen.",
                          "--dry-run"])
    assert outcome.exit_code == 0  # the texts fit; sending is what needs the declaration
    assert ("X rules: X posts on 2 accounts (hackney-x, camden-x): texts identical once each "
            "account's own values (borough, handle, command unit, personality, account vars) "
            "are masked; sending needs --public-safety (if it is a public-safety "
            "announcement) or --x-repost-from ACCOUNT") in outcome.stderr.splitlines()
    as_json = strict.run(["send", "--all", "--message", "Roads reopen.", "--dry-run", "--json"])
    assert json.loads(as_json.stdout)["x_rules"] == {
        "groups": [{"accounts": ["hackney-x", "camden-x"], "identical": True}],
        "public_safety": False, "allowed": False}
    assert strict.x.request_count == 0


def test_public_safety_sends_them_and_is_recorded_and_shown(strict):
    outcome = send(strict, "{{ borough }}: flood warning, avoid the river path.",
                   "--public-safety", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert strict.x_texts("MPSHackney") == ["Hackney: flood warning, avoid the river path."]
    assert strict.x_texts("MPSCamden") == ["Camden: flood warning, avoid the river path."]
    broadcast = json.loads(outcome.stdout)["broadcast"]
    assert strict.ledger_rows(f"SELECT public_safety FROM broadcasts WHERE id = '{broadcast}'"
                              ) in ([(1,)], [(True,)])
    shown = strict.run(["show", broadcast])
    assert ("Sent as a public-safety announcement (--public-safety): X's exception to its rule "
            "against the same text on several accounts") in shown.stdout.splitlines()
    assert json.loads(strict.run(["show", broadcast, "--json"]).stdout)["public_safety"] is True
    plain = send(strict, "Roads reopen.", "--platform", "facebook", "--json")
    other = json.loads(plain.stdout)["broadcast"]
    assert json.loads(strict.run(["show", other, "--json"]).stdout)["public_safety"] is False


def test_repost_from_makes_one_post_and_reposts_it_from_the_other_x_accounts(strict):
    message = "{{ borough }}: roads around the market reopen at 6pm."
    outcome = send(strict, message, "--x-repost-from", "hackney-x", "--json")
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    [original] = strict.x.live_posts("MPSHackney")
    assert original.text == "Hackney: roads around the market reopen at 6pm."
    [repost] = strict.x.live_posts("MPSCamden")
    assert repost.repost_of == original.id
    retweet = [r for r in strict.x.requests if r.path.endswith("/retweets")]
    assert [(r.method, r.path, r.json()) for r in retweet] == [
        ("POST", "/2/users/1002/retweets", {"tweet_id": original.id})]
    # The original went out before the repost asked for it.
    creates = [r for r in strict.x.requests if r.method == "POST"]
    assert [r.path for r in creates] == ["/2/tweets", "/2/users/1002/retweets"]
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    assert posts["camden-x"]["status"] == "sent"
    assert posts["camden-x"]["remote_id"] == repost.id
    assert posts["camden-x"]["repost_of"] == "hackney-x"
    # Facebook pages post as ever, each in its own borough's name.
    assert strict.page_texts("1002") == ["Camden: roads around the market reopen at 6pm."]
    # X lists who reposted it.
    import requests

    listed = requests.get(f"{strict.x.url}/2/tweets/{original.id}/retweeted_by",
                          headers={"authorization": _oauth(strict, "camden")}, timeout=5).json()
    assert listed == {"data": [{"id": "1002", "name": "MPSCamden", "username": "MPSCamden"}],
                      "meta": {"result_count": 1}}
    # A rerun posts and reposts nothing again.
    before = posts_made(strict)
    rerun = send(strict, message, "--x-repost-from", "hackney-x", "--json")
    assert rerun.exit_code == 0
    assert {p["status"] for p in json.loads(rerun.stdout)["posts"]} == {"already sent"}
    assert posts_made(strict) == before


def _oauth(fleet, slug: str) -> str:
    """A well-formed OAuth 1.0a header the fake accepts (it does not check signatures)."""
    key = fleet.env[f"{slug.upper()}_X_CONSUMER_KEY"]
    return (f'OAuth oauth_consumer_key="{key}", oauth_token="{fleet.x_token(slug)}", '
            'oauth_signature="x", oauth_signature_method="HMAC-SHA1", oauth_nonce="n", '
            'oauth_timestamp="1", oauth_version="1.0"')


def test_a_repost_waits_for_its_original_and_a_rerun_makes_it_once(strict):
    message = "{{ borough }}: roads reopen at 6pm."
    token = strict.x_token("hackney")
    strict.x.revoke(token)
    first = send(strict, message, "--x-repost-from", "hackney-x", "--json")
    assert first.exit_code == 1
    posts = {p["account"]: p for p in json.loads(first.stdout)["posts"]}
    assert posts["hackney-x"]["status"] == "failed"
    assert posts["camden-x"]["status"] == "failed"
    assert posts["camden-x"]["error"] == (
        "not reposted: the post of hackney-x, which this reposts, is not on X (failed); a "
        "rerun reposts it once that post is sent")
    assert not [r for r in strict.x.requests if r.path.endswith("/retweets")]
    strict.x.revoked.discard(token)
    retry = strict.run(["retry", "last", "--yes", "--json"])
    assert retry.exit_code == 0, retry.stdout
    [original] = strict.x.live_posts("MPSHackney")
    [repost] = strict.x.live_posts("MPSCamden")
    assert repost.repost_of == original.id


@pytest.mark.parametrize("fault", ["post_then_fail_next", "drop_after_accept_next"])
def test_a_repost_whose_answer_is_lost_is_found_not_made_twice(strict, fault):
    message = "{{ borough }}: roads reopen at 6pm."
    camden = strict.x_token("camden")
    strict.x.revoke(camden)  # the original goes out; the repost is refused, then retried
    assert send(strict, message, "--x-repost-from", "hackney-x").exit_code == 1
    strict.x.revoked.discard(camden)
    getattr(strict.x, fault)(1)  # the repost is made, and its answer lost
    retry = strict.run(["retry", "last", "--yes", "--json"])
    assert retry.exit_code == 0, retry.stdout
    [original] = strict.x.live_posts("MPSHackney")
    [repost] = strict.x.live_posts("MPSCamden")
    assert repost.repost_of == original.id
    assert strict.ledger_rows("SELECT state, remote_id FROM posts WHERE account = 'camden-x'"
                              ) == [("sent", repost.id)]
    # It was looked for among Camden's posts, reposts included, before any resend.
    listings = [r for r in strict.x.requests if r.path == "/2/users/1002/tweets"]
    assert listings and "referenced_tweets" in listings[0].query["tweet.fields"]
    assert len([r for r in strict.x.requests if r.path.endswith("/retweets")]) == 2


def test_repost_from_must_be_a_selected_x_account(strict):
    outcome = send(strict, "Roads reopen.", "--x-repost-from", "hackney-facebook")
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        "metpost: error: --x-repost-from hackney-facebook: Facebook posts cannot be reposted "
        "by metpost; name an X account"]
    outside = strict.run(["send", "--borough", "Camden", "--message", "Roads reopen.", "--yes",
                          "--x-repost-from", "hackney-x"])
    assert outside.exit_code == 2
    assert outside.error_lines == [
        "metpost: error: --x-repost-from hackney-x: not one of the selected accounts; "
        "select it too"]
    assert strict.x.request_count == 0


def test_the_dry_run_counts_x_posts_and_prices_them(strict):
    outcome = strict.run(["send", "--all", "--message",
                          "{{ borough }}: updates at met.police.uk/roads", "--public-safety",
                          "--dry-run", "--json"])
    usage = json.loads(outcome.stdout)["x_usage"]
    assert usage == [
        {"app": "HACKNEY_X_CONSUMER_KEY", "x_access": "pay-per-use", "accounts": 1, "posts": 1,
         "posts_with_link": 1, "reposts": 0, "fits": True, "over": [], "cost_usd": 0.2},
        {"app": "CAMDEN_X_CONSUMER_KEY", "x_access": "pay-per-use", "accounts": 1, "posts": 1,
         "posts_with_link": 1, "reposts": 0, "fits": True, "over": [], "cost_usd": 0.2}]


def test_masking_takes_whole_words_only():
    from metpost.similarity import MASK, masked_text

    assert masked_text("POLICE in CE tonight", ["CE"]) == f"POLICE in {MASK} tonight"
    assert masked_text("Hackney Wick: hackney", ["Hackney"]) == f"{MASK} Wick: {MASK}"


def test_tiers_say_when_a_broadcast_exceeds_their_daily_caps():
    from metpost.xtiers import TIERS, usage_by_app

    posts = [("APP", False, False)] * 20 + [("APP", True, False)] * 2 + [("APP", False, True)]
    [free] = usage_by_app(posts, {"APP": "free"})
    assert (free.posts, free.posts_with_link, free.reposts) == (22, 2, 1)
    assert free.over == ["22 posts exceed the free tier's 17 posts per 24 hours per app"]
    assert free.cost is None
    [basic] = usage_by_app(posts, {"APP": "basic"})
    assert basic.fits and basic.cost is None
    [paying] = usage_by_app(posts, {})
    assert paying.tier is TIERS["pay-per-use"]
    assert paying.cost == round(20 * 0.015 + 2 * 0.200 + 0.015, 3)


def test_x_access_is_validated_against_the_apps_the_accounts_use(strict):
    text = strict.config.read_text() + (
        "x_apps:\n  HACKNEY_X_CONSUMER_KEY: {x_access: basc}\n"
        "  HACKNY_X_CONSUMER_KEY: {x_access: free}\n")
    strict.config.write_text(text)
    outcome = strict.run(["check"])
    assert outcome.exit_code == 2
    lines = strict.config.read_text().splitlines()
    first = lines.index("  HACKNEY_X_CONSUMER_KEY: {x_access: basc}") + 1
    assert outcome.error_lines == [
        f"metpost: error: {strict.config}:{first}: x_apps.HACKNEY_X_CONSUMER_KEY.x_access: "
        "unknown X access tier 'basc' — did you mean 'basic'? (known: pay-per-use, free, "
        "basic, pro)",
        f"metpost: error: {strict.config}:{first + 1}: x_apps.HACKNY_X_CONSUMER_KEY: no X "
        "account's consumer_key is ${HACKNY_X_CONSUMER_KEY} — did you mean "
        "'HACKNEY_X_CONSUMER_KEY'?; name each app by its consumer-key variable"]
    fixed = text.replace("basc", "free").replace("  HACKNY_X_CONSUMER_KEY: {x_access: free}\n", "")
    strict.config.write_text(fixed)
    dry = strict.run(["send", "--borough", "Hackney", "--message", "Roads reopen.", "--dry-run"])
    assert ("X app HACKNEY_X_CONSUMER_KEY (free): 1 post; within its caps (17 posts per 24 "
            "hours per app, 17 per account), not counting its other posts of the last 24 hours"
            in dry.stderr.splitlines())


def test_masking_as_written_agrees_with_the_pattern_on_thousands_of_texts():
    # Values are masked as written when they stand in the text only so; else the pattern
    # decides. Both must give what the pattern alone gives, on awkward texts: values in other
    # cases, inside longer words, next to each other, repeated, with no word at an end.
    import random

    from metpost.platforms.api import comparable_text
    from metpost.similarity import MASK, _whole_word, masked_text

    def by_pattern(text: str, values: list[str]) -> str:
        masked = comparable_text(text)
        for value in values:
            needle = comparable_text(value)
            if needle.casefold() in masked.casefold():
                masked = _whole_word(needle).sub(MASK, masked)
        return masked

    rng = random.Random(20261201)
    words = ["Hackney", "CE", "ce", "police", "POLICE", "@MPSHackney", "mpshackney", "Brent",
             "Brentford", "https://www.met.police.uk/area/hackney/", "a-", "-a", "//", "x_y",
             "a-a", "xa", "a-a-a",
             "Straße", "STRASSE", "\u017ft", "Kelvin", "\u212aelvin", "İstanbul", "ΣΟΦΙΑ",
             "σοφια", "42", "4 2"]
    joins = [" ", "", ", ", ": ", "-", "/", "_", "\n", ". ", "@"]
    for _ in range(3000):
        values = rng.sample(words, rng.randint(1, 4))
        tokens = []
        for _ in range(rng.randint(1, 8)):
            word = rng.choice(words + values * 2)
            if rng.random() < 0.3:
                word = rng.choice([word.upper(), word.lower(), word.title(), word.swapcase()])
            tokens += [word, rng.choice(joins)]
        text = "".join(tokens)
        ordered = sorted(set(values), key=len, reverse=True)
        assert masked_text(text, ordered) == by_pattern(text, ordered), (text, ordered)
