"""Any endpoint that takes a JSON POST (a chat room's incoming webhook, a partner's service),
signed as Standard Webhooks sign (standardwebhooks.com, spec 1.0.0).

- The body is the account's ``body``: a JSON document whose string values may hold
  ``{{ text }}``, ``{{ idempotency_key }}``, ``{{ account }}`` and ``{{ handle }}``. The JSON is
  parsed first and the values put into its strings, then encoded, so a post's text can never
  break out of its string (quotes, backslashes, newlines are escaped by the encoder). Without a
  ``body`` it is ``{"text": "{{ text }}"}``. The same post always gives the same bytes.
- Headers: ``Idempotency-Key`` (the post's key) and the Standard Webhooks trio: ``webhook-id``
  (``msg_`` and the post's key: "the same when the same webhook is being resent"),
  ``webhook-timestamp`` (this attempt's Unix seconds) and, when the account has a ``secret``
  (``whsec_`` and the key bytes in base64), ``webhook-signature: v1,`` and the base64
  HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}``.
- Answers, as the spec suggests handling them: 2xx delivered; 408 and 429 (the request was
  not taken) tried again with the same key and id (``Retry-After`` honoured); 3xx a failure
  (redirects are not followed: update the url); 410 the receiver wants no more; any other 4xx
  a refusal. A 5xx, or no answer, may come after the receiver acted. The spec asks receivers to
  use ``webhook-id`` "as an idempotency key to prevent accidentally processing the same webhook
  more than once", but many (chat rooms' incoming webhooks) do not, and a receiver cannot be
  asked what it took: such a post is ``unknown`` and never resent, unless the account says
  ``deduplicates: true`` (its receiver honours the keys), when it is resent with the same key.
- A webhook carries text only: a broadcast with images is refused for its accounts before
  anything is sent (give them a template variant that declares ``images: []``), a text over
  ``max_characters`` is refused rather than threaded, and ``accounts verify`` cannot ask a
  receiver whom a secret belongs to.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from metpost.platforms.api import (
    Capabilities,
    Destination,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    TextLimits,
)
from metpost.platforms.clocks import on_our_clock
from metpost.platforms.http import (
    redirect_origin,
    routed_session,
    transport_error,
    url_problem,
)

if TYPE_CHECKING:
    import requests

DEFAULT_BODY = '{"text": "{{ text }}"}'
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
TEMPLATE_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
BODY_FIELDS = ("text", "idempotency_key", "account", "handle")
SECRET_PREFIX = "whsec_"
URL = re.compile(r"https?://[^/\s?#]+(/\S*)?")
POSITIVE_NUMBER = re.compile(r"[1-9][0-9]{0,7}")
RETRY_STATUSES = frozenset({408, 429})
WORDS_SHOWN = 200  # characters of a receiver's answer quoted in an error


def body_problem(template: str) -> str | None:
    """Why ``template`` cannot be a webhook body, or None."""
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON value")

    try:
        # NaN, Infinity and 1e999 (read as infinity) are Python's, not JSON's: sent, no
        # receiver would take the body. A body nested deeper than Python recurses is no body.
        document = json.loads(template, parse_constant=refuse_constant,
                              parse_float=_finite_number)
    except (ValueError, RecursionError) as error:
        reason = "it nests too deeply" if isinstance(error, RecursionError) else error
        return f"is not JSON ({reason}); write a JSON document such as {DEFAULT_BODY}"
    if _depth(document) > MAX_BODY_DEPTH:
        return (f"nests more than {MAX_BODY_DEPTH} levels deep; write a JSON document such as "
                f"{DEFAULT_BODY}")
    strings = _strings(document)
    # Anything else in braces is no placeholder: a filter or an expression ({{ text|upper }},
    # {% if %}) would be sent as it is written, braces and all.
    other = sorted({found for text in strings for found in TEMPLATE_SYNTAX.findall(text)
                    if not PLACEHOLDER.fullmatch(found)})
    if other:
        return (f"holds {', '.join(other)}, which a body cannot have: its strings take only "
                f"the placeholders {', '.join('{{ ' + name + ' }}' for name in BODY_FIELDS)}, "
                "put in as they are (no filters, no expressions)")
    unknown = sorted({name for text in strings for name in PLACEHOLDER.findall(text)
                      if name not in BODY_FIELDS})
    if unknown:
        return (f"names {', '.join('{{ ' + name + ' }}' for name in unknown)}, which a body "
                f"cannot have (it can have: {', '.join(BODY_FIELDS)})")
    return None


MAX_BODY_DEPTH = 64  # arrays and objects within each other; receivers' payloads take a few


def _depth(document: Any) -> int:
    """How deeply ``document``'s arrays and objects nest (0 for a plain value), found without
    recursion."""
    deepest, waiting = 0, [(document, 0)]
    while waiting:
        item, depth = waiting.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            waiting.extend((value, depth) for value in
                           (item.values() if isinstance(item, dict) else item))
    return deepest


def _finite_number(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is too large a number for JSON")
    return number


def render_body(template: str, values: Mapping[str, str]) -> bytes:
    """The request body: ``template`` parsed as JSON, ``values`` put into its strings, encoded
    compactly as UTF-8."""
    def fill(item: Any) -> Any:
        if isinstance(item, str):
            return PLACEHOLDER.sub(lambda match: values[match.group(1)], item)
        if isinstance(item, list):
            return [fill(value) for value in item]
        if isinstance(item, dict):
            return {key: fill(value) for key, value in item.items()}
        return item

    filled = fill(json.loads(template))
    return json.dumps(filled, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}`` keyed with the secret's bytes (the base64 after ``whsec_``,
    which the reference libraries also take without its prefix)."""
    import base64
    import hashlib
    import hmac

    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    if not key:
        raise ValueError("the secret is empty")
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def receiver_url(destination: Destination) -> str:
    """Where the account's posts go: its ``url``, or the one its credentials name."""
    return destination.settings.get("url") or destination.credentials["url"]


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a receiver's address (as "is ..."), or None."""
    if not URL.fullmatch(url):
        return "is not an http(s) address like https://example.org/hook"
    unusable = url_problem(url, base=False)
    return f"{unusable}; write an address like https://example.org/hook" if unusable else None


def _strings(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, list):
        return [text for value in item for text in _strings(value)]
    if isinstance(item, dict):
        return [text for value in item.values() for text in _strings(value)]
    return []


class WebhookPlatform(Platform):
    """Posts a signed JSON document to the account's ``url``."""

    name = "webhook"
    title = "Webhook"
    # A receiver's address is often itself a secret (Slack's, Teams' and Discord's carry the
    # token in the path): it may then be given as a credential, url: '${VAR}', instead.
    optional_credential_keys = ("secret", "url")
    account_fields = {"url": False, "body": False, "max_characters": False,  # noqa: RUF012
                      "deduplicates": False}
    limit_field = "max_characters"
    flag_fields = ("deduplicates",)
    # The body is where the text goes in the request: an edit to it after a plan was approved
    # would change what is posted, so it counts as the destination's, as the url does.
    destination_fields = {"url": True, "body": False}  # noqa: RUF012
    limits = TextLimits(max_length=100_000, unit="characters")
    # A receiver gets JSON: no file, no reply to an earlier delivery, no "who am I" to ask.
    # It honours the idempotency key only if its account says so (``deduplicates: true``).
    capabilities = Capabilities(media=False, threads=False, can_verify=False)

    def __init__(self, destination: Destination) -> None:
        super().__init__(destination)
        if destination.settings.get("deduplicates") == "true":
            self.capabilities = replace(type(self).capabilities, idempotent_publish=True)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """url must be http(s); body a JSON template; max_characters a whole number."""
        problems = {}
        url = settings.get("url")
        if url is not None and (unusable := _url_problem(url)):
            problems["url"] = f"'{url}' {unusable}"
        body = settings.get("body")
        problem = body_problem(body) if body is not None else None
        if problem:
            problems["body"] = problem
        maximum = settings.get("max_characters")
        if maximum is not None and not POSITIVE_NUMBER.fullmatch(maximum):
            problems["max_characters"] = f"'{maximum}' is not a number of characters"
        return problems

    @classmethod
    def account_problems(cls, settings: Mapping[str, str],
                         credentials: Mapping[str, str]) -> dict[str, str]:
        """The receiver's address is given once: as ``url``, or as a credential."""
        if "url" in settings and "url" in credentials:
            return {"url": "is given twice, here and in credentials; keep one (credentials "
                           "when the address is itself a secret)"}
        if "url" not in settings and "url" not in credentials:
            return {"url": "missing: give url: https://… or, when the address is itself a "
                           "secret, credentials: {url: '${VAR}'}"}
        return {}

    @classmethod
    def credential_problems(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """A url given as a credential must be an http(s) address, and a signing secret a
        Standard Webhooks one (neither is ever quoted): found before the first post, not by
        a failed request in the middle of a broadcast."""
        problems = {}
        url = credentials.get("url")
        if url is not None and (unusable := _url_problem(url)):
            problems["url"] = f"the url in the environment {unusable}"
        secret = credentials.get("secret")
        if secret is not None and secret.strip():
            import binascii

            try:
                signature(secret.strip(), "check", 0, b"")
            except (binascii.Error, ValueError):
                problems["secret"] = (f"is not a Standard Webhooks secret ({SECRET_PREFIX} and "
                                      "the key in base64); copy it again from the receiver")
        return problems

    @classmethod
    def limits_for(cls, settings: Mapping[str, str]) -> TextLimits:
        """The receiver's limit when the account gives one (``max_characters``)."""
        maximum = settings.get("max_characters")
        if maximum is None or not POSITIVE_NUMBER.fullmatch(maximum):
            return cls.limits
        return TextLimits(max_length=int(maximum), unit=cls.limits.unit)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Receipt:
        """POST the body to the url, with the post's idempotency key and, given a secret, the
        Standard Webhooks signature."""
        import requests

        destination = self.destination
        body = render_body(destination.settings.get("body", DEFAULT_BODY), {
            "text": request.text, "idempotency_key": request.idempotency_key,
            "account": destination.account, "handle": destination.handle or ""})
        message_id = f"msg_{request.idempotency_key}"
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "Idempotency-Key": request.idempotency_key,
                   "webhook-id": message_id, "webhook-timestamp": str(timestamp)}
        secret = destination.credentials.get("secret")
        if secret is not None:
            headers["webhook-signature"] = self._signed(secret, message_id, timestamp, body)
        timeouts = destination.timeouts
        try:
            response = self._session.post(receiver_url(destination), data=body,
                                          headers=headers, allow_redirects=False,
                                          timeout=(timeouts.connect, timeouts.read))
        except requests.RequestException as error:
            raise transport_error(error, "the webhook") from None
        if 200 <= response.status_code < 300:
            return Receipt(remote_id=message_id)
        raise _refusal(response)

    @staticmethod
    def _signed(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
        import binascii

        try:
            return signature(secret.strip(), message_id, timestamp, body)
        except (binascii.Error, ValueError):
            raise PublishError("the webhook secret is not a Standard Webhooks secret: "
                               f"{SECRET_PREFIX} and the key in base64", problem="credentials",
                               ) from None

    @cached_property
    def _session(self) -> requests.Session:
        import requests

        from metpost import __version__

        session = requests.Session()
        session.headers["User-Agent"] = f"metpost/{__version__}"
        # The receiver's whole answer is bounded in time, as the platforms' are; a redirect
        # comes back to publish, which reports it (it is never followed).
        url = urlsplit(receiver_url(self.destination))
        routed_session(session, f"{url.scheme}://{url.netloc}", None,
                       self.destination.timeouts, refuse_redirects=False)
        return session

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if "_session" in self.__dict__:
            self._session.close()


def _refusal(response: requests.Response) -> PublishError:
    status = response.status_code
    words = _words(response)
    if status >= 500:
        # The receiver may have acted before failing: resent (with the same key) only to a
        # receiver that honours it.
        return PublishError(f"the webhook answered {status}: {words}", status=status,
                            maybe_posted=True, retry_at=_retry_after(response))
    if status in RETRY_STATUSES:
        return PublishError(f"the webhook answered {status}: {words}", status=status,
                            retry_safe=True, retry_at=_retry_after(response),
                            problem="rate-limit" if status == 429 else None)
    if 300 <= status < 400:
        # Only where it points, scheme and host: a webhook's address may itself be a secret
        # (Slack's, Teams', Discord's carry the token in the path).
        target = redirect_origin(response)
        where = f"moved to {target}" if target else "moved"
        return PublishError(f"the webhook answered {status}, {where}; update the account's url "
                            "(redirects are not followed)", status=status)
    if status == 410:
        return PublishError(f"the webhook answered 410: the receiver wants no more posts: "
                            f"{words}", status=status)
    if status in (401, 403):
        return PublishError(f"the webhook refused the request ({status}): {words}",
                            status=status, problem="credentials")
    return PublishError(f"the webhook refused the post ({status}): {words}", status=status,
                        problem="invalid" if status in (400, 413, 422) else None)


def _words(response: requests.Response) -> str:
    """What the receiver said: a JSON ``error`` or ``message``, else the start of its body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str) and body[key].strip():
                return str(body[key])
    text = " ".join(response.text.split())
    if not text:
        return response.reason or f"HTTP {response.status_code}"
    return text if len(text) <= WORDS_SHOWN else text[:WORDS_SHOWN] + "…"


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` (seconds, or an HTTP date) as Unix time on our clock."""
    from email.utils import parsedate_to_datetime

    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return time.time() + int(value)
    try:
        return on_our_clock(parsedate_to_datetime(value).timestamp(), response.headers)
    except (TypeError, ValueError):
        return None
