"""A fake Bluesky PDS (AT Protocol XRPC), as unkind as the real one: sessions and records.

Routes (``/xrpc/NSID``): ``com.atproto.server.createSession`` and ``refreshSession``,
``com.atproto.repo.putRecord``, ``getRecord``, ``deleteRecord``, ``listRecords`` and
``uploadBlob``, ``com.atproto.identity.resolveHandle``. Shapes followed, and where each was
found (the lexicons under ``lexicons/com/atproto/``, and the reference PDS in
github.com/bluesky-social/atproto ``packages/pds`` and ``packages/xrpc-server``):

- Errors are ``{"error": Name, "message": ...}``: 401 ``AuthenticationRequired`` "Invalid
  identifier or password" (createSession with a wrong or revoked app password), 400
  ``InvalidToken`` "Token could not be verified" or ``ExpiredToken`` "Token has expired", 400
  ``InvalidRequest`` (a record that breaks the lexicon, a bad record key), 400 ``RecordNotFound``
  "Could not locate record: at://...", 501 ``MethodNotImplemented`` for an unknown method.
- createSession -> ``{did, didDoc, handle, email, emailConfirmed, accessJwt, refreshJwt,
  active}``; the tokens are JWTs with ``scope``, ``sub``, ``iat`` and ``exp`` (two hours for the
  access token) that the SDK reads. ``didDoc`` names this server as the account's PDS.
  ``sessions_created`` counts them per identifier (the real limit is 30 per 5 minutes).
- putRecord -> ``{uri, cid, commit: {cid, rev}, validationStatus: "valid"}``. The record's CID
  is CIDv1 dag-cbor sha2-256 of its DAG-CBOR bytes (libipld), as a PDS computes it. A record
  identical to the one stored under the key is a no-op: the same uri and cid, no ``commit``
  (putRecord.ts: "no-op"); another record under an existing key replaces it, an update,
  counted in ``updates``. An ``app.bsky.feed.post`` record needs ``$type``, ``text`` (at most
  3,000 bytes and 300 graphemes) and ``createdAt`` (an RFC 3339 time), and its key must be a
  TID (13 characters of ``234567abcdefghijklmnopqrstuvwxyz``, the first at most ``j``).
- getRecord -> ``{uri, cid, value}``; deleteRecord -> ``{commit}``, or ``{}`` for a record that
  is already gone (deleteRecord.ts: "No-op if record already doesn't exist").
- listRecords: newest first by record key, ``limit`` 1..100 (default 50), ``cursor`` the last
  key of the page before; ``{records, cursor?}``.
- resolveHandle -> ``{did}``, or 400 ``InvalidRequest`` "Unable to resolve handle".
- uploadBlob -> ``{blob: {$type: "blob", ref: {$link: CID}, mimeType, size}}``, the CID a raw
  (0x55) sha2-256 one of the bytes, and the MIME type the one found in the bytes, else the
  request's Content-Type, as the reference PDS sniffs it. A post that embeds
  ``app.bsky.embed.images`` (at most 4, each with an ``alt`` string) must name blobs this
  repository uploaded, each ``image/*`` and at most 2,000,000 bytes; otherwise 400
  ``InvalidRequest`` (the PDS enforces blob restrictions "when the reference is created", and
  the lexicon's ``maxSize``). A ``reply`` needs ``root`` and ``parent``, each ``{uri, cid}``;
  a reference to a post of this PDS must name its current CID.
- Rate limits: every repository write answers ``RateLimit-Limit``, ``RateLimit-Remaining``,
  ``RateLimit-Reset`` (Unix seconds) and ``RateLimit-Policy`` (``5000;w=3600``).

Faults (``FakeServer``'s and these) act on the repository writes (putRecord, deleteRecord,
uploadBlob), never on createSession:

- ``rate_limit_next(n, reset_in)``: 429 ``RateLimitExceeded`` "Rate Limit Exceeded" with the
  four headers, remaining 0.
- ``fail_next`` / ``post_then_fail_next(n, status)``: 500 ``InternalServerError`` "Internal
  Server Error", 502 ``UpstreamFailure``, 503 ``NotEnoughResources``, 504 ``UpstreamTimeout``.
- ``fail_reads_next(n, status)``: the next ``n`` getRecord and listRecords answer that error.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import libipld
from atproto_client.utils.facet_detection import _grapheme_len

from tests.fake_platforms.images import sniffed_type
from tests.fake_platforms.server import FakeServer, Fault, Reply, Request

XRPC = "/xrpc/"
PUT, GET, DELETE, LIST = (XRPC + "com.atproto.repo." + name
                          for name in ("putRecord", "getRecord", "deleteRecord", "listRecords"))
UPLOAD = XRPC + "com.atproto.repo.uploadBlob"
TID_FIRST = "234567abcdefghij"
TID_REST = "234567abcdefghijklmnopqrstuvwxyz"
ERROR_NAMES = {500: ("InternalServerError", "Internal Server Error"),
               502: ("UpstreamFailure", "Upstream Failure"),
               503: ("NotEnoughResources", "Not Enough Resources"),
               504: ("UpstreamTimeout", "Upstream Timeout")}
WRITE_POINTS = 5000  # repo-write-hour
MAX_IMAGE_BYTES = 2_000_000  # app.bsky.embed.images#image: "maxSize": 2000000
ACCESS_LIFETIME = 7200

_revs = itertools.count(1)


@dataclass
class Repo:
    """An account on the PDS: its identity, app password and records."""

    did: str
    handle: str
    app_password: str
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (coll, rkey)
    cids: dict[tuple[str, str], str] = field(default_factory=dict)


class FakeBluesky(FakeServer):
    """A PDS on 127.0.0.1 (see the module docstring for what it answers)."""

    write_paths = frozenset({PUT, DELETE, UPLOAD})

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.repos: dict[str, Repo] = {}  # by did
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (did, expires at)
        self.refresh_tokens: dict[str, str] = {}
        self.revoked: set[str] = set()  # app passwords that no longer log in
        self.handles: dict[str, str] = {}  # handle -> did, for resolveHandle (others' too)
        self.sessions_created: dict[str, int] = {}
        self.updates = 0  # putRecords that replaced a different record
        self.blobs: dict[str, bytes] = {}
        self.blob_types: dict[str, str] = {}  # CID -> the MIME type the PDS found
        self.blob_owners: dict[str, set[str]] = {}  # CID -> the repositories that uploaded it
        self._write_points: dict[str, int] = {}

    # -- set-up and inspection ---------------------------------------------------------------

    def add_account(self, did: str, handle: str, app_password: str) -> None:
        """Host an account, logged in with ``app_password``."""
        with self._lock:
            self.repos[did] = Repo(did, handle, app_password)
            self.handles[handle.lower()] = did

    def revoke(self, app_password: str) -> None:
        """The app password is revoked: it no longer logs in."""
        with self._lock:
            self.revoked.add(app_password)

    def expire_sessions(self) -> None:
        """Every access token issued so far has expired."""
        with self._lock:
            self.tokens = {token: (did, 0.0) for token, (did, _) in self.tokens.items()}

    def posts(self, handle: str) -> list[dict[str, Any]]:
        """The account's ``app.bsky.feed.post`` records, oldest first."""
        with self._lock:
            repo = self.repos[self.handles[handle.lower()]]
            return [record for (collection, _), record in sorted(repo.records.items())
                    if collection == "app.bsky.feed.post"]

    def post_keys(self, handle: str) -> list[str]:
        """The record keys of the account's posts, oldest first."""
        with self._lock:
            repo = self.repos[self.handles[handle.lower()]]
            return sorted(rkey for collection, rkey in repo.records
                          if collection == "app.bsky.feed.post")

    def fail_reads_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` getRecord and listRecords with a ``status`` error."""
        self.queue_fault(n, Fault("fail_read", answer=lambda _: self.error_reply(status),
                                  methods=frozenset({"GET"}), paths=frozenset({GET, LIST})))

    # -- the API -----------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Dispatch on the method's NSID; everything but logging in needs a session."""
        nsid = request.path.removeprefix(XRPC)
        if nsid == "com.atproto.server.createSession" and request.method == "POST":
            return self._create_session(request)
        if nsid == "com.atproto.server.refreshSession" and request.method == "POST":
            return self._refresh_session(request)
        if nsid == "com.atproto.identity.resolveHandle":
            return self._resolve(request.query.get("handle", ""))
        repo = self._authorise(request)
        if isinstance(repo, Reply):
            return repo
        handlers = {"com.atproto.repo.putRecord": self._put,
                    "com.atproto.repo.getRecord": self._get,
                    "com.atproto.repo.deleteRecord": self._delete,
                    "com.atproto.repo.listRecords": self._list,
                    "com.atproto.repo.uploadBlob": self._upload}
        handler = handlers.get(nsid)
        if handler is None:
            return _error(501, "MethodNotImplemented", "Method Not Implemented")
        reply = handler(repo, request)
        if request.path in self.write_paths:
            reply.headers.update(self._write_headers(repo, points=2))
        return reply

    def error_reply(self, status: int) -> Reply:
        """The XRPC error of a 5xx."""
        name, message = ERROR_NAMES.get(status, ("InternalServerError", "Internal Server Error"))
        return _error(status, name, message)

    def rate_limit_reply(self, reset_in: float) -> Reply:
        """429 RateLimitExceeded with the rate-limit headers, none left."""
        reply = _error(429, "RateLimitExceeded", "Rate Limit Exceeded")
        reply.headers.update({"RateLimit-Limit": str(WRITE_POINTS), "RateLimit-Remaining": "0",
                              "RateLimit-Reset": str(int(self.now() + reset_in)),
                              "RateLimit-Policy": f"{WRITE_POINTS};w=3600"})
        return reply

    # -- sessions ----------------------------------------------------------------------------

    def _create_session(self, request: Request) -> Reply:
        body = _json_body(request)
        identifier = str(body.get("identifier", "")).lower()
        password = str(body.get("password", ""))
        with self._lock:
            self.sessions_created[identifier] = self.sessions_created.get(identifier, 0) + 1
            did = identifier if identifier in self.repos else self.handles.get(identifier)
            repo = self.repos.get(did or "")
            if repo is None or password != repo.app_password or password in self.revoked:
                return _error(401, "AuthenticationRequired", "Invalid identifier or password")
            return Reply(200, self._session(repo))

    def _refresh_session(self, request: Request) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            did = self.refresh_tokens.pop(token, None)
            if did is None:
                return _error(400, "ExpiredToken", "Token has been revoked")
            return Reply(200, self._session(self.repos[did]))

    def _session(self, repo: Repo) -> dict[str, Any]:
        now = int(time.time())
        access = _jwt({"scope": "com.atproto.appPass", "sub": repo.did, "iat": now,
                       "exp": now + ACCESS_LIFETIME, "aud": "did:web:pds.example"})
        refresh = _jwt({"scope": "com.atproto.refresh", "sub": repo.did, "iat": now,
                        "exp": now + 90 * 86400, "jti": secrets.token_hex(8),
                        "aud": "did:web:pds.example"})
        self.tokens[access] = (repo.did, now + ACCESS_LIFETIME)
        self.refresh_tokens[refresh] = repo.did
        return {"did": repo.did, "handle": repo.handle, "email": f"{repo.handle}@example.org",
                "emailConfirmed": True, "accessJwt": access, "refreshJwt": refresh,
                "active": True, "didDoc": {
                    "@context": ["https://www.w3.org/ns/did/v1"], "id": repo.did,
                    "alsoKnownAs": [f"at://{repo.handle}"], "verificationMethod": [],
                    "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                 "serviceEndpoint": self.url}]}}

    def _authorise(self, request: Request) -> Repo | Reply:
        """The session's account, or the refusal of a missing, unknown or expired token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "AuthenticationRequired", "Authentication Required")
        with self._lock:
            known = self.tokens.get(token.strip())
            if known is None:
                return _error(400, "InvalidToken", "Token could not be verified")
            did, expires = known
            if expires <= time.time():
                return _error(400, "ExpiredToken", "Token has expired")
            return self.repos[did]

    def _resolve(self, handle: str) -> Reply:
        with self._lock:
            did = self.handles.get(handle.lower())
        if did is None:
            return _error(400, "InvalidRequest", "Unable to resolve handle")
        return Reply(200, {"did": did})

    # -- records -----------------------------------------------------------------------------

    def _own(self, repo: Repo, named: object) -> bool:
        return isinstance(named, str) and named.lower() in (repo.did, repo.handle.lower())

    def _put(self, repo: Repo, request: Request) -> Reply:
        body = _json_body(request)
        collection, rkey, record = body.get("collection"), body.get("rkey"), body.get("record")
        if not self._own(repo, body.get("repo")):
            return _error(401, "AuthenticationRequired", "Authentication Required")
        if not isinstance(collection, str) or not isinstance(rkey, str):
            return _error(400, "InvalidRequest", "Input must have the properties \"collection\""
                                                 " and \"rkey\"")
        problem = _record_problem(collection, rkey, record) or self._references_problem(
            repo, record)
        if problem:
            return _error(400, "InvalidRequest", problem)
        assert isinstance(record, dict)
        cid = record_cid(record)
        uri = f"at://{repo.did}/{collection}/{rkey}"
        with self._lock:
            current = repo.cids.get((collection, rkey))
            if current == cid:  # putRecord.ts: no-op
                return Reply(200, {"uri": uri, "cid": cid, "validationStatus": "valid"})
            if current is not None:
                self.updates += 1
            repo.records[(collection, rkey)] = record
            repo.cids[(collection, rkey)] = cid
            commit = {"cid": record_cid({"rev": next(_revs)}), "rev": _tid_now()}
        return Reply(200, {"uri": uri, "cid": cid, "commit": commit,
                           "validationStatus": "valid"})

    def _get(self, repo: Repo, request: Request) -> Reply:
        query = request.query
        collection, rkey = query.get("collection", ""), query.get("rkey", "")
        uri = f"at://{repo.did}/{collection}/{rkey}"
        with self._lock:
            record = repo.records.get((collection, rkey))
            if not self._own(repo, query.get("repo")) or record is None:
                return _error(400, "RecordNotFound", f"Could not locate record: {uri}")
            return Reply(200, {"uri": uri, "cid": repo.cids[(collection, rkey)],
                               "value": record})

    def _delete(self, repo: Repo, request: Request) -> Reply:
        body = _json_body(request)
        if not self._own(repo, body.get("repo")):
            return _error(401, "AuthenticationRequired", "Authentication Required")
        key = (str(body.get("collection")), str(body.get("rkey")))
        with self._lock:
            if key not in repo.records:
                return Reply(200, {})
            del repo.records[key], repo.cids[key]
            commit = {"cid": record_cid({"rev": next(_revs)}), "rev": _tid_now()}
        return Reply(200, {"commit": commit})

    def _list(self, repo: Repo, request: Request) -> Reply:
        query = request.query
        raw = query.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            return _error(400, "InvalidRequest", "limit must be between 1 and 100")
        collection = query.get("collection", "")
        cursor = query.get("cursor")
        with self._lock:
            keys = sorted((rkey for coll, rkey in repo.records if coll == collection),
                          reverse=True)
            if cursor:
                keys = [rkey for rkey in keys if rkey < cursor]
            page = keys[:int(raw)]
            records = [{"uri": f"at://{repo.did}/{collection}/{rkey}",
                        "cid": repo.cids[(collection, rkey)],
                        "value": repo.records[(collection, rkey)]} for rkey in page]
        body: dict[str, Any] = {"records": records}
        if len(keys) > len(page):
            body["cursor"] = page[-1]
        return Reply(200, body)

    def _upload(self, repo: Repo, request: Request) -> Reply:
        cid = _cid(hashlib.sha256(request.body).digest(), codec=0x55)
        mime_type = sniffed_type(request.body) or request.headers.get("content-type", "*/*")
        with self._lock:
            self.blobs[cid] = request.body
            self.blob_types[cid] = mime_type
            self.blob_owners.setdefault(cid, set()).add(repo.did)
        return Reply(200, {"blob": {"$type": "blob", "ref": {"$link": cid},
                                    "mimeType": mime_type, "size": len(request.body)}})

    def _references_problem(self, repo: Repo, record: Any) -> str | None:
        """Why a post's images or reply refer to what they may not, or None."""
        if not isinstance(record, dict) or record.get("$type") != "app.bsky.feed.post":
            return None
        embed = record.get("embed")
        if isinstance(embed, dict) and embed.get("$type") == "app.bsky.embed.images":
            images = embed.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= 4:
                return "Invalid app.bsky.embed.images: images must have 1 to 4 items"
            for image in images:
                problem = self._image_problem(repo, image)
                if problem:
                    return problem
        reply = record.get("reply")
        if reply is not None:
            for end in ("root", "parent"):
                problem = self._strong_ref_problem(reply.get(end) if isinstance(reply, dict)
                                                   else None, end)
                if problem:
                    return problem
        return None

    def _image_problem(self, repo: Repo, image: Any) -> str | None:
        if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
            return "Invalid app.bsky.embed.images#image: alt must be a string"
        blob = image.get("image")
        cid = ((blob or {}).get("ref") or {}).get("$link") if isinstance(blob, dict) else None
        with self._lock:
            if cid not in self.blobs or repo.did not in self.blob_owners.get(cid, set()):
                return f"Could not find blob: {cid}"
            size, mime_type = len(self.blobs[cid]), self.blob_types[cid]
        if not mime_type.startswith("image/"):
            return f"Wrong type of blob: expected image/*, got {mime_type}"
        if size > MAX_IMAGE_BYTES:
            return f"This file is too large. It is {size} bytes but the maximum size is " \
                   f"{MAX_IMAGE_BYTES} bytes."
        return None

    def _strong_ref_problem(self, ref: Any, end: str) -> str | None:
        if not isinstance(ref, dict) or not isinstance(ref.get("uri"), str) or not isinstance(
                ref.get("cid"), str):
            return f"Invalid app.bsky.feed.post record: reply/{end} must be {{uri, cid}}"
        parts = ref["uri"].removeprefix("at://").split("/")
        with self._lock:
            target = self.repos.get(parts[0]) if len(parts) == 3 else None
            current = target.cids.get((parts[1], parts[2])) if target else None
        if target is not None and current != ref["cid"]:
            return f"Invalid app.bsky.feed.post record: reply/{end} does not name the " \
                   f"current CID of {ref['uri']}"
        return None

    def replies(self, handle: str) -> list[tuple[str | None, str | None]]:
        """(root uri, parent uri) of each of the account's posts, oldest first (None, None
        for a post that answers nothing)."""
        return [((post.get("reply") or {}).get("root", {}).get("uri"),
                 (post.get("reply") or {}).get("parent", {}).get("uri"))
                for post in self.posts(handle)]

    def _write_headers(self, repo: Repo, points: int) -> dict[str, str]:
        with self._lock:
            used = self._write_points.get(repo.did, 0) + points
            self._write_points[repo.did] = used
        reset = int(time.time()) + 3600
        return {"RateLimit-Limit": str(WRITE_POINTS),
                "RateLimit-Remaining": str(max(0, WRITE_POINTS - used)),
                "RateLimit-Reset": str(reset), "RateLimit-Policy": f"{WRITE_POINTS};w=3600"}


def record_cid(record: Any) -> str:
    """The CID a PDS gives a record: CIDv1, dag-cbor, sha2-256 of its DAG-CBOR encoding."""
    return _cid(hashlib.sha256(libipld.encode_dag_cbor(record)).digest(), codec=0x71)


def _cid(digest: bytes, codec: int) -> str:
    raw = bytes([0x01, codec, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def _record_problem(collection: str, rkey: str, record: object) -> str | None:
    """Why the record breaks its lexicon (only app.bsky.feed.post is checked), or None."""
    if not isinstance(record, dict):
        return "Input/record must be an object"
    if record.get("$type") != collection:
        return f"Invalid $type: expected {collection}, got {record.get('$type')}"
    if collection != "app.bsky.feed.post":
        return None
    if len(rkey) != 13 or rkey[0] not in TID_FIRST or any(c not in TID_REST for c in rkey):
        return f"Invalid record key: {rkey} is not a TID"
    text = record.get("text")
    if not isinstance(text, str):
        return "Invalid app.bsky.feed.post record: Record must have the property \"text\""
    if len(text.encode("utf-8")) > 3000:
        return "Invalid app.bsky.feed.post record: Record/text must not be longer than 3000 " \
               "characters"
    if _grapheme_len(text) > 300:
        return "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 " \
               "graphemes"
    made = record.get("createdAt")
    try:
        datetime.fromisoformat(str(made))
    except ValueError:
        return "Invalid app.bsky.feed.post record: Record/createdAt must be an valid datetime"
    for facet in record.get("facets") or ():
        index = facet.get("index", {}) if isinstance(facet, dict) else {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int)
                and 0 <= start < end <= len(text.encode("utf-8"))):
            return "Invalid app.bsky.feed.post record: facet index out of range"
    return None


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, name: str, message: str) -> Reply:
    return Reply(status, {"error": name, "message": message})


def _jwt(payload: dict[str, Any]) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(json.dumps({"typ": "at+jwt", "alg": "ES256K"}).encode())
    return f"{header}.{part(json.dumps(payload).encode())}.{part(secrets.token_bytes(32))}"


def _tid_now() -> str:
    value = int(time.time() * 1_000_000) << 10
    return "".join(TID_REST[(value >> shift) & 31] for shift in range(60, -1, -5))
