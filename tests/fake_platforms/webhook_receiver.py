"""A fake webhook receiver that checks what Standard Webhooks promises (standardwebhooks.com).

Any ``POST`` is a delivery. The receiver does what the spec asks of a consumer:

- With a ``secret`` (``whsec_`` and base64), it requires ``webhook-id``, ``webhook-timestamp``
  and ``webhook-signature``; it computes HMAC-SHA256 of ``{id}.{timestamp}.{raw body}`` keyed
  with the base64-decoded secret and accepts if any ``v1,`` signature in the (space-separated)
  header matches, compared in constant time; a timestamp more than 5 minutes from its clock is
  refused. A refusal is 401 ``{"error": "invalid signature"}`` (or ``"timestamp out of
  tolerance"``), and nothing is kept.
- "Use the ``webhook-id`` header as an idempotency key": a delivery whose id (or
  ``Idempotency-Key``) it already kept answers 200 again without keeping a second one
  (``dedupe = False`` keeps every delivery, as a careless receiver does).
- The body must be JSON (400 ``{"error": "body is not JSON"}`` otherwise); 2xx is 200 ``{"ok":
  true}``.

Faults are ``FakeServer``'s; a 5xx is ``{"error": "..."}`` as JSON, and ``rate_limit_next``
answers 429 with ``Retry-After`` in whole seconds (the spec: "some responses may also include a
Retry-After header"). ``answer_next(n, status, body, headers)`` answers anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tests.fake_platforms.server import FakeServer, Fault, Reply, Request

TOLERANCE = 300  # seconds either side of the receiver's clock


@dataclass(frozen=True)
class Delivery:
    """A delivery the receiver kept."""

    id: str
    body: Any  # the JSON document
    raw: bytes
    headers: dict[str, str]


class FakeWebhookReceiver(FakeServer):
    """A receiver on 127.0.0.1 (see the module docstring for what it checks)."""

    def __init__(self, secret: str | None = None, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.secret = secret
        self.dedupe = True
        self.deliveries: list[Delivery] = []

    def answer_next(self, n: int, status: int, body: Any = None,
                    headers: dict[str, str] | None = None,
                    content_type: str = "application/json") -> None:
        """Answer the next ``n`` deliveries with this reply, keeping nothing."""
        reply = Reply(status, body, dict(headers or {}), content_type)
        self.queue_fault(n, Fault(f"answer_{status}", answer=lambda _: reply))

    # -- receiving ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Check, dedupe and keep one delivery."""
        if request.method != "POST":
            return Reply(405, {"error": "only POST is accepted"})
        refusal = self._signature_problem(request)
        if refusal:
            return Reply(401, {"error": refusal})
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return Reply(400, {"error": "body is not JSON"})
        delivery_id = request.headers.get("webhook-id") or request.headers.get(
            "idempotency-key", "")
        with self._lock:
            if not (self.dedupe and any(d.id == delivery_id for d in self.deliveries)):
                self.deliveries.append(Delivery(delivery_id, body, request.body,
                                                dict(request.headers)))
        return Reply(200, {"ok": True})

    def error_reply(self, status: int) -> Reply:
        """A 5xx with its phrase, as JSON."""
        return Reply(status, {"error": HTTPStatus(status).phrase})

    def rate_limit_reply(self, reset_in: float) -> Reply:
        """429 with Retry-After in seconds."""
        return Reply(429, {"error": "slow down"},
                     headers={"Retry-After": str(max(1, math.ceil(reset_in)))})

    def _signature_problem(self, request: Request) -> str | None:
        if self.secret is None:
            return None
        message_id = request.headers.get("webhook-id")
        timestamp = request.headers.get("webhook-timestamp", "")
        signatures = request.headers.get("webhook-signature", "")
        if not message_id or not timestamp.isdigit() or not signatures:
            return "missing webhook-id, webhook-timestamp or webhook-signature"
        if abs(time.time() - int(timestamp)) > TOLERANCE:
            return "timestamp out of tolerance"
        expected = expected_signature(self.secret, message_id, timestamp, request.body)
        for candidate in signatures.split(" "):
            version, _, value = candidate.partition(",")
            if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
                return None
        return "invalid signature"


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 a correct sender puts after ``v1,``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
