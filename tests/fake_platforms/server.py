"""A threaded HTTP server on 127.0.0.1 with a request log, latency and injected faults.

``FakeServer`` listens on an ephemeral port from the moment it is built and answers each
connection in its own daemon thread (``ThreadingHTTPServer``), so a fixed ``latency`` delays every
request without serialising concurrent ones. Subclasses say what the platform answers (``route``)
and what its 5xx and rate-limit answers look like (``error_reply``, ``rate_limit_reply``).

Faults are queued and consumed in order, one per incoming request they apply to. Most apply to
any write request (POST or DELETE); a fault meant for deletes only waits for the next DELETE, and
the writes in between pass it by. What the client sees:

==========================  ============================================================  ========
fault (``Request.fault``)   what the client sees                                          stored?
==========================  ============================================================  ========
``fail_next`` (fail)        a 5xx in the platform's error shape                           no
``rate_limit_next``         the platform's rate-limit answer                              no
``post_then_fail_next``     a 5xx in the platform's error shape                           **yes**
``drop_after_accept_next``  the connection closes after the request is processed (drop)   yes
``stall_next`` (stall)      the answer comes ``seconds`` late (never, if stopped)         yes
``refuse_next`` (refuse)    the connection closes before the body is read                 no
==========================  ============================================================  ========

"Stored?" is whether the request is processed (a valid post kept, a delete done) before the fault
acts. The platform fakes add their own faults on the same queue (see each module).

Every request the server reads, faulted or not, lands in ``requests`` with its method, path,
query, headers, body, the fault it consumed, when it arrived, and when and with what status it was
answered. ``in_flight`` and ``max_in_flight`` count requests being handled at once (from the
moment a request line is read until its answer is written or its connection closed), for tests
of concurrency.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

WRITE_METHODS = frozenset({"POST", "DELETE"})
DELETE_ONLY = frozenset({"DELETE"})


@dataclass
class Request:
    """One request as the server read it, and how it was answered."""

    method: str
    path: str  # without the query string
    query: dict[str, str]  # first value of each query parameter
    headers: dict[str, str]  # names lower-cased
    body: bytes
    fault: str | None = None  # the fault this request consumed, if any
    received_at: float = field(default_factory=time.time)  # epoch seconds
    answered_at: float | None = None  # epoch seconds; None if never answered (drop, refuse)
    status: int | None = None  # the status sent; None if never answered

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError if it is not JSON)."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (first value of each)."""
        pairs = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {name: values[0] for name, values in pairs.items()}

    def form_lists(self) -> dict[str, list[str]]:
        """The form body with every value of each name (``media_ids[]=1&media_ids[]=2``)."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    def multipart(self) -> dict[str, Part]:
        """The body parsed as ``multipart/form-data`` (RFC 7578), by field name; empty if it
        is not that."""
        from email.parser import BytesParser
        from email.policy import HTTP

        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return {}
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + self.body)
        parts: dict[str, Part] = {}
        for item in message.iter_parts():
            name = item.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            filename = item.get_param("filename", header="content-disposition")
            payload = item.get_payload(decode=True)
            parts[name] = Part(name=name, data=payload if isinstance(payload, bytes) else b"",
                               filename=filename if isinstance(filename, str) else None,
                               content_type=item.get_content_type()
                               if item.get("content-type") else None)
        return parts


@dataclass(frozen=True)
class Part:
    """One field of a multipart body: a file (with its name and type) or a plain value."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        """The field's value as text."""
        return self.data.decode("utf-8")


@dataclass
class Reply:
    """What the server answers: a status, a JSON body (None for none; bytes are sent as they
    are) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


Answer = Callable[[Request], Reply]


@dataclass(frozen=True)
class Fault:
    """One queued fault.

    ``answer`` replaces the platform's answer; with ``process`` the request is first handled as
    usual (the post stored, the delete done) and only the answer is replaced. ``close`` is
    "before" (close without reading the body) or "after" (process, then close unanswered);
    ``delay`` holds the answer back that many seconds. ``methods`` are the requests it applies to.
    """

    name: str
    answer: Answer | None = None
    process: bool = False
    close: str | None = None
    delay: float = 0.0
    methods: frozenset[str] = WRITE_METHODS
    paths: frozenset[str] | None = None  # only requests to these paths; None: the fake's writes


class FakeServer:
    """Base for the fakes: lifecycle, request log, latency, concurrency count and the faults."""

    # The paths a fault without paths of its own applies to (None: any path). An XRPC fake sets
    # its repository writes, so that logging in (also a POST) never consumes a fault.
    write_paths: frozenset[str] | None = None

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        # How far this platform's clock is ahead of the machine's (behind, if negative): its
        # Date header and the times it names (rate-limit resets, when a post was made) are on
        # its own clock.
        self.clock_offset = 0.0
        self._lock = threading.RLock()  # guards the log, the faults, counters and subclass state
        self._log: list[Request] = []
        self._faults: deque[Fault] = deque()
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = _HTTPServer(self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (the port is already bound); return self."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} was stopped; build a new one")
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.02},
                                            name=f"{type(self).__name__}-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: end stalls and latency waits, close every socket. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        if thread is not None:
            httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on (until it is stopped)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is stopped")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base address, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- request log and concurrency -----------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request read so far, oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def request_count(self) -> int:
        """How many requests the server has read."""
        with self._lock:
            return len(self._log)

    @property
    def in_flight(self) -> int:
        """How many requests are being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being handled at the same moment."""
        with self._lock:
            return self._max_in_flight

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next ``n`` writes with a ``status`` (5xx) platform error; store nothing."""
        _require_5xx("fail_next", status)
        self.queue_fault(n, Fault("fail", answer=lambda _: self.error_reply(status)))

    def post_then_fail_next(self, n: int = 1, status: int = 500) -> None:
        """Process the next ``n`` writes (store the post, do the delete), then answer a
        ``status`` (5xx) platform error as if nothing had happened."""
        _require_5xx("post_then_fail_next", status)
        self.queue_fault(n, Fault("post_then_fail", process=True,
                                  answer=lambda _: self.error_reply(status)))

    def rate_limit_next(self, n: int = 1, reset_in: float = 1.0) -> None:
        """Answer the next ``n`` writes with the platform's rate-limit error; store nothing."""
        self.queue_fault(n, Fault("rate_limit", answer=lambda _: self.rate_limit_reply(reset_in)))

    def drop_after_accept_next(self, n: int = 1) -> None:
        """Process the next ``n`` writes, then close the connection without answering."""
        self.queue_fault(n, Fault("drop", process=True, close="after"))

    def stall_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Process the next ``n`` writes, then wait ``seconds`` before answering."""
        self.queue_fault(n, Fault("stall", process=True, delay=seconds))

    def refuse_next(self, n: int = 1) -> None:
        """Close the connection of the next ``n`` writes before reading their body.

        The client has sent its request by then, so it sees a connection error after sending,
        as with a drop; only a closed port gives a true "connection refused".
        """
        self.queue_fault(n, Fault("refuse", close="before"))

    def queue_fault(self, n: int, fault: Fault) -> None:
        """Queue ``fault`` for the next ``n`` requests it applies to (the platform fakes'
        own faults go through here)."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._faults.extend([fault] * n)

    def clear_faults(self) -> None:
        """Drop every queued fault that no request has consumed."""
        with self._lock:
            self._faults.clear()

    @property
    def faults_pending(self) -> int:
        """How many queued faults no request has consumed yet."""
        with self._lock:
            return len(self._faults)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """The first queued fault that applies to ``method`` and ``path``, removed from the
        queue."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                paths = fault.paths if fault.paths is not None else self.write_paths
                if method in fault.methods and (paths is None or path in paths):
                    del self._faults[index]
                    return fault
        return None

    # -- what subclasses provide -------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Answer one request (called from a handler thread; guard shared state with _lock)."""
        raise NotImplementedError

    def error_reply(self, status: int) -> Reply:
        """The platform's answer for an injected 5xx."""
        raise NotImplementedError

    def rate_limit_reply(self, reset_in: float) -> Reply:
        """The platform's answer for an injected rate limit lifting in ``reset_in`` seconds."""
        raise NotImplementedError

    def now(self) -> float:
        """The time on this platform's clock (Unix seconds)."""
        return time.time() + self.clock_offset

    # -- request handling --------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        """Count the request in flight while it is read, delayed, faulted and answered."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        handler.counted_in_flight = True
        try:
            self._serve(handler)
        finally:
            self._out_of_flight(handler)

    def _out_of_flight(self, handler: _Handler) -> None:
        """The request is no longer in flight (once): just before its answer is written, so a
        client that has its answer never finds the server still counting it."""
        with self._lock:
            if handler.counted_in_flight:
                handler.counted_in_flight = False
                self._in_flight -= 1

    def _serve(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        fault = self._take_fault(method, split.path)
        query = {name: values[0] for name, values in
                 parse_qs(split.query, keep_blank_values=True).items()}
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

        if fault is not None and fault.close == "before":
            self._record(Request(method, split.path, query, headers, b"", fault.name))
            handler.close_connection = True  # closed with the body unread, nothing answered
            return

        request = Request(method, split.path, query, headers, _read_body(handler),
                          fault.name if fault else None)
        self._record(request)
        if self.latency and self._stopping.wait(self.latency):
            handler.close_connection = True
            return

        reply = self._answer(request, fault)
        if fault is not None and fault.close == "after":
            handler.close_connection = True
            return
        if fault is not None and fault.delay and self._stopping.wait(fault.delay):
            handler.close_connection = True
            return
        # Recorded before the answer goes out: a client that has its answer can rely on the log.
        with self._lock:
            request.status, request.answered_at = reply.status, time.time()
        self._out_of_flight(handler)
        if not _send(handler, reply):
            with self._lock:  # the client had gone: nothing was answered after all
                request.status, request.answered_at = None, None

    def _answer(self, request: Request, fault: Fault | None) -> Reply:
        """The platform's answer, or the fault's (after processing, if the fault says so)."""
        if fault is None or fault.answer is None:
            return self.route(request)
        if fault.process:
            self.route(request)
        return fault.answer(request)

    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)


def _require_5xx(name: str, status: int) -> None:
    if not 500 <= status <= 599:
        raise ValueError(f"{name} takes a 5xx status, not {status}")


class _HTTPServer(ThreadingHTTPServer):
    """A threading server that knows its open connections so ``stop`` can close them."""

    daemon_threads = True
    request_queue_size = 256  # the benchmark opens dozens of connections at once

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Shut down every open connection, waking handler threads blocked on reads."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up (timeouts, drops); report anything else."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the fake; HTTP/1.1 so clients can keep connections alive."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after a minute
    counted_in_flight = False  # set while the fake counts this handler's request in flight
    # Headers and body go out in two writes; with Nagle on, a kept-alive connection then waits
    # for the client's delayed ACK, some 40 ms a request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _dispatch(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: no access log."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, on the fake platform's clock."""
        return super().date_time_string(self.server.fake.now() if timestamp is None
                                        else timestamp)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, by Content-Length or chunked transfer encoding."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline().strip():  # trailers, then the blank line
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()  # the CRLF after each chunk
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> bool:
    """Write ``reply``; False if the client had gone away (not an error)."""
    if isinstance(reply.body, bytes):  # sent as it is: a proxy's HTML page, a plain text
        payload = reply.body
    else:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
    try:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()
    except OSError:
        handler.close_connection = True
        return False
    return True
