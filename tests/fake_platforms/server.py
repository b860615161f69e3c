"""A threaded HTTP server on loopback with a request log, latency and injected faults."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    """What to answer: status, JSON body, headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Fault:
    """A fault to apply to the next write request (POST or DELETE)."""

    kind: str  # "status" | "rate_limit" | "drop_after_accept" | "stall" | "refuse"
    status: int = 503
    seconds: float = 0.0


class FakeServer:
    """Base for the fakes. Subclasses implement ``route`` and ``error_reply``."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.requests: list[Request] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            # The default backlog of 5 resets connections when 66 arrive at once.
            request_queue_size = 256

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next n writes with a server error in the platform's shape."""
        self._faults.extend(Fault("status", status=status) for _ in range(n))

    def rate_limit_next(self, n: int = 1, reset_in: float = 1.0) -> None:
        """Answer the next n writes with the platform's rate-limit error."""
        self._faults.extend(Fault("rate_limit", seconds=reset_in) for _ in range(n))

    def drop_after_accept_next(self, n: int = 1) -> None:
        """Store the next n posts, then close the connection without answering."""
        self._faults.extend(Fault("drop_after_accept") for _ in range(n))

    def stall_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Store the next n posts, then wait ``seconds`` before answering."""
        self._faults.extend(Fault("stall", seconds=seconds) for _ in range(n))

    def refuse_next(self, n: int = 1) -> None:
        """Close the next n write connections before reading or storing anything."""
        self._faults.extend(Fault("refuse") for _ in range(n))

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        fault = None
        if handler.command in ("POST", "DELETE"):
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
        if fault and fault.kind == "refuse":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        request = Request(handler.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(request)
        if self.latency:
            time.sleep(self.latency)
        if fault and fault.kind == "status":
            reply = self.error_reply(fault.status)
        elif fault and fault.kind == "rate_limit":
            reply = self.rate_limit_reply(fault.seconds)
        else:
            reply = self.route(request)
        if fault and fault.kind == "drop_after_accept":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault and fault.kind == "stall":
            self._stopping.wait(fault.seconds)
        self._send(handler, reply)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout): nothing to do

    # -- for subclasses ---------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def error_reply(self, status: int) -> Reply:
        raise NotImplementedError

    def rate_limit_reply(self, reset_in: float) -> Reply:
        raise NotImplementedError
