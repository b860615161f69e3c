"""Choosing accounts: any selector matches, --platform narrows, nobody named is left out."""

from __future__ import annotations

import pytest

from metpost.config import load_config
from metpost.errors import SelectionError
from metpost.selection import Selection, select_accounts

CONFIG = """
boroughs:
  - {name: Hackney, bcu: CE}
  - {name: Camden, bcu: CN}
  - {name: Sutton, bcu: SN}
personalities:
  co11: {display: "MPS Public Order"}
accounts:
  - {name: hackney-x, platform: x, borough: Hackney, tags: [bcu-ce],
     credentials: {consumer_key: "${A}", consumer_secret: "${A}", access_token: "${A}",
                   access_token_secret: "${A}"}}
  - {name: hackney-facebook, platform: facebook, page_id: "1", borough: Hackney,
     tags: [bcu-ce], credentials: {page_access_token: "${B}"}}
  - {name: camden-x, platform: x, borough: Camden,
     credentials: {consumer_key: "${A}", consumer_secret: "${A}", access_token: "${A}",
                   access_token_secret: "${A}"}}
  - {name: co11-x, platform: x, personality: co11,
     credentials: {consumer_key: "${A}", consumer_secret: "${A}", access_token: "${A}",
                   access_token_secret: "${A}"}}
"""
PLATFORMS = ("x", "facebook")


@pytest.fixture
def config(project):
    return load_config(project(CONFIG))


def names(accounts):
    return [account.name for account in accounts]


def test_selectors_add_up_in_config_order(config):
    chosen = select_accounts(config, Selection(personalities=("CO11",), boroughs=("camden",)),
                             PLATFORMS)
    assert names(chosen) == ["camden-x", "co11-x"]


def test_platform_narrows(config):
    chosen = select_accounts(config, Selection(tags=("bcu-ce",), platforms=("facebook",)),
                             PLATFORMS)
    assert names(chosen) == ["hackney-facebook"]


def test_a_named_borough_that_would_be_left_out_is_an_error(config):
    with pytest.raises(SelectionError) as caught:
        select_accounts(config, Selection(boroughs=("Hackney", "Camden"),
                                          platforms=("facebook",)), PLATFORMS)
    assert caught.value.problems == (
        "borough 'Camden' has no account on facebook; see metpost accounts list",)


def test_a_borough_without_accounts_is_an_error(config):
    with pytest.raises(SelectionError) as caught:
        select_accounts(config, Selection(boroughs=("Sutton", "Hackney")), PLATFORMS)
    assert caught.value.problems == (
        "borough 'Sutton' has no account; see metpost accounts list",)


def test_a_named_account_on_another_platform_is_an_error(config):
    with pytest.raises(SelectionError) as caught:
        select_accounts(config, Selection(accounts=("co11-x",), platforms=("facebook",)),
                        PLATFORMS)
    assert caught.value.problems == ("account 'co11-x' is not on facebook",)


def test_all_selects_everything(config):
    assert len(select_accounts(config, Selection(all=True), PLATFORMS)) == 4


def test_a_name_typed_in_another_unicode_form_is_the_same_name(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text('boroughs:\n  - {name: "Z\u00fcrich", bcu: ZH}\naccounts:\n'
                    '  - {name: zurich-facebook, platform: facebook, page_id: "1", '
                    'borough: "Z\u00fcrich", credentials: {page_access_token: "${B}"}}\n',
                    encoding="utf-8")
    typed = "Zu\u0308rich"  # a Mac's keyboard: "u" and a combining diaeresis
    [account] = select_accounts(load_config(path), Selection(boroughs=(typed,)), ["facebook"])
    assert account.name == "zurich-facebook"
