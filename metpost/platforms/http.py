"""HTTP plumbing shared by clients whose libraries talk through ``requests``.

tweepy, facebook-sdk and Mastodon.py hard-code their hosts (or take one root), set no timeouts
of their own and follow redirects. Rather than patch them, we mount a transport adapter on the
``requests.Session`` each library uses: it sends the request to the account's ``api_url`` when
one is configured, always applies connect/read timeouts, bounds the time an answer's body may
take, and refuses every redirect.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from metpost.platforms.api import PublishError, Timeouts

if TYPE_CHECKING:
    import requests

# An answer's body must be whole within this many read timeouts of its headers arriving.
BODY_READ_TIMEOUTS = 2


def routed_session(session: requests.Session, origin: str, api_url: str | None,
                   timeouts: Timeouts, *, refuse_redirects: bool = True) -> requests.Session:
    """Mount an adapter on ``session`` for ``origin`` (e.g. ``https://api.twitter.com``).

    Every request to ``origin`` then goes to ``api_url`` (when given), with ``timeouts``, and is
    never retried by the transport. Its answer is held to two limits beyond requests' own (the
    connect timeout, and the read timeout for each read from the socket):

    - **No redirect is followed.** A platform API never redirects a write, and following one
      would replay the request, credentials in its body included (facebook-sdk's page token),
      to another host through requests' default adapter, without our timeouts. An answer with
      a redirect raises ``requests.TooManyRedirects`` without anything being sent to where it
      points, whatever ``allow_redirects`` says; ``transport_error`` says what that means. The
      session's ``max_redirects`` is 0 as well, for any URL outside ``origin``.
    - **The body is bounded as a whole.** A server that trickles its body a byte at a time
      satisfies every per-read timeout for ever; so the body must be complete within
      ``BODY_READ_TIMEOUTS`` times the read timeout of the headers arriving, or the connection is
      cut and ``requests.ReadTimeout`` raised (after a write: the post may exist). A request
      then lasts at most the connect timeout, the wait for the headers (the read timeout, per
      read) and twice the read timeout for the body. A caller that asks ``stream=True`` reads
      the body itself, unbounded as a whole.

    ``refuse_redirects=False`` leaves a redirect answer to the caller (a webhook reports it as
    a refusal: its receiver did not take the post), still never followed.
    """
    from requests.adapters import HTTPAdapter
    from requests.exceptions import ReadTimeout, TooManyRedirects

    body_limit = BODY_READ_TIMEOUTS * timeouts.read

    class RoutedAdapter(HTTPAdapter):
        """Rewrites the origin to ``api_url``, enforces timeouts, refuses redirects; never
        retries by itself. Keeps the latest answer's ``Date`` (see ``platform_clock_ahead``)."""

        answered: tuple[str, float] | None = None  # (Date header, our time it arrived)

        def send(self, request: requests.PreparedRequest, stream: bool = False,
                 timeout: Any = None, verify: bool | str = True, cert: Any = None,
                 proxies: Mapping[str, str] | None = None) -> requests.Response:
            if api_url and request.url and request.url.startswith(origin):
                request.url = api_url + request.url[len(origin):]
            response = super().send(request, stream=True,
                                    timeout=(timeouts.connect, timeouts.read),
                                    verify=verify, cert=cert, proxies=proxies)
            if date := response.headers.get("Date"):
                self.answered = (date, time.time())
            if response.is_redirect and refuse_redirects:
                response.close()  # its body is not wanted, nor its connection kept
                raise TooManyRedirects("a redirect, which is never followed",
                                       response=response, request=request)
            if not stream and not _read_body(response, body_limit):
                response.close()
                raise ReadTimeout(f"the answer's body took more than {body_limit:g}s",
                                  request=request)
            return response

    # max_retries=0: a silent transport-level retry of a POST could publish twice.
    session.mount(origin, RoutedAdapter(max_retries=0))
    if refuse_redirects:  # (requests raises at 0 even for allow_redirects=False: its _next)
        session.max_redirects = 0
    _settle_environment(session, origin)
    return session


def platform_clock_ahead(session: requests.Session, origin: str) -> float | None:
    """How many seconds the platform's clock ran ahead of ours (negative: behind) by the
    ``Date`` of its latest answer to ``session`` through ``routed_session``'s adapter for
    ``origin`` (0 within a few seconds); None before an answer with a readable ``Date``."""
    from metpost.platforms.clocks import seconds_ahead

    try:
        answered = getattr(session.get_adapter(origin), "answered", None)
    except Exception:  # requests has no adapter for the URL: nothing was ever answered
        return None
    return seconds_ahead(*answered) if answered else None


def _read_body(response: requests.Response, limit: float) -> bool:
    """Read ``response``'s body into it, as requests does for a caller that does not stream;
    False if it was not whole within ``limit`` seconds (its connection is then cut)."""
    cutoff = _Cutoff(response.raw, time.monotonic() + limit)
    _WATCHDOG.watch(cutoff)
    try:
        response.content  # noqa: B018 — reads the body, and keeps it for the caller
    except BaseException as error:
        if cutoff.finish() and isinstance(error, Exception):  # the cut broke the read
            return False
        raise
    # A body that runs until the connection closes ends quietly when it is cut.
    return not cutoff.finish()


class _Cutoff:
    """Cuts the connection under one answer if its body is still being read at ``at``."""

    __slots__ = ("at", "lock", "raw", "state")

    def __init__(self, raw: Any, at: float) -> None:
        self.at = at
        self.raw: Any = raw
        self.lock = threading.Lock()
        self.state = "reading"  # then "done" (read in time) or "cut"

    def fire(self) -> None:
        """The deadline: cut the connection, unless the body was read. Under the lock, so that
        the reading thread, which takes it to finish, cannot reuse the connection before."""
        with self.lock:
            if self.state != "reading":
                return
            self.state = "cut"
            _shut_down(self.raw)
            self.raw = None

    def finish(self) -> bool:
        """The body was read, or its read failed: whether it had been cut."""
        with self.lock:
            if self.state == "reading":
                self.state = "done"
            self.raw = None
            return self.state == "cut"


def _shut_down(raw: Any) -> None:
    """Shut the socket under a urllib3 response for reading, which ends a read blocked on it
    in another thread at once (closing it would not). ``HTTPResponse.shutdown`` is urllib3's
    own way (from 2.3); before it, the connection's socket."""
    import socket

    shutdown = getattr(raw, "shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
            return
        except RuntimeError:  # the connection went back to the pool: the body was read
            return
        except (ValueError, OSError):
            pass
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that fires each ``_Cutoff`` at its time. A cutoff whose body was read
    stays queued until then and does nothing; arming one costs a heap push, not a thread."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Cutoff]] = []
        self._wake = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, cutoff: _Cutoff) -> None:
        import heapq

        with self._wake:
            heapq.heappush(self._due, (cutoff.at, next(self._order), cutoff))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="metpost-http-watchdog")
                self._thread.start()
            elif self._due[0][2] is cutoff:  # sooner than the thread is waiting for
                self._wake.notify()

    def _run(self) -> None:
        import heapq

        while True:
            with self._wake:
                while True:
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        cutoff = heapq.heappop(self._due)[2]
                        break
                    self._wake.wait(wait)
            with contextlib.suppress(Exception):  # the thread lives on; the read then fails
                cutoff.fire()


_WATCHDOG = _Watchdog()


def _new_watchdog() -> None:
    """A forked child has no watchdog thread, and may have a lock held by it: start afresh."""
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog)


def _settle_environment(session: requests.Session, origin: str) -> None:
    """Read the proxy and CA-bundle settings from the environment once, for ``origin``.

    requests looks them up again on every request (a cost that adds up over hundreds of posts);
    they cannot change while a run lasts. The result is what requests itself would use: the
    proxies for the origin's URL (honouring NO_PROXY), and REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE.
    """
    if not session.trust_env:
        return
    proxies, bundle = _environment_settings(origin, _network_environment())
    session.proxies.update(proxies)
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _network_environment() -> tuple[tuple[str, str], ...]:
    """The environment variables that decide proxies and CA bundles: *_proxy in any case,
    REQUEST_METHOD (under CGI, HTTP_PROXY is ignored) and the bundles. Reading only these is
    far cheaper than requests' own look-up, which goes through every variable twice; with a
    few hundred credentials in the environment that came to half a millisecond a client."""
    import os

    return tuple(sorted((name, os.environ[name]) for name in os.environ
                        if name[-6:].lower() == "_proxy" or name == "REQUEST_METHOD"
                        or name in _CA_BUNDLE_VARIABLES))


@lru_cache(maxsize=32)
def _environment_settings(origin: str, environment: tuple[tuple[str, str], ...]
                          ) -> tuple[dict[str, str], str | None]:
    """(proxies, CA bundle) for ``origin``, as requests would find them in ``environment`` (the
    variables ``_network_environment`` reads, which are all that requests consults)."""
    from requests.utils import get_environ_proxies

    settings = dict(environment)
    bundle = next((settings[name] for name in _CA_BUNDLE_VARIABLES if settings.get(name)), None)
    return get_environ_proxies(origin), bundle


def url_problem(url: str, *, base: bool = True) -> str | None:
    """What keeps an http(s) URL from being used, or None: a host that cannot be read (an
    unclosed IPv6 bracket), no host, a port that is no port; for a ``base`` (request paths are
    appended to it), also a query or a fragment. Checked with the config, so that such a URL
    stops the broadcast before its first post rather than failing each request."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # Python's own words for it differ from version to version
        return "has a host that cannot be read (an unclosed [ or a bad address inside [ ])"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    if not parts.hostname:
        return "names no host"
    if base and (parts.query or parts.fragment or url.endswith(("?", "#"))):
        return "has a ? query or # fragment, which the request paths would be appended to"
    return None


def transport_error(error: Exception, where: str) -> PublishError:
    """Turn a ``requests`` transport failure into a PublishError that says if a retry is safe."""
    import requests

    if isinstance(error, requests.TooManyRedirects):
        return _redirect_refused(error, where)
    if isinstance(error, requests.ConnectTimeout):
        return PublishError(f"could not connect to {where} in time", retry_safe=True)
    if isinstance(error, requests.ConnectionError) and not isinstance(
            error, requests.ReadTimeout) and _never_connected(error):
        return PublishError(f"could not connect to {where}", retry_safe=True)
    if isinstance(error, requests.exceptions.SSLError) and (refused := _handshake_refused(error)):
        return PublishError(f"could not connect to {where}: {refused}", retry_safe=True)
    lost = (f"{where} did not answer in time" if isinstance(error, requests.ReadTimeout)
            else f"the connection to {where} broke before it answered")
    if _reading(error):  # a look (a listing, a check) changed nothing: it may be asked again
        return PublishError(lost, retry_safe=True)
    return PublishError(f"{lost}; the post may have gone out", maybe_posted=True)


def _reading(error: Exception) -> bool:
    """Whether the request ``error`` is about only read (GET, HEAD, OPTIONS)."""
    request = getattr(error, "request", None)
    method = getattr(request, "method", None)
    return isinstance(method, str) and method.upper() in SAFE_METHODS


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def redirect_refusal(error: requests.TooManyRedirects, where: str) -> str:
    """What a redirect ``routed_session`` refused was, in words: where it pointed, as scheme
    and host only (its path or query may carry a token)."""
    response = error.response
    target = redirect_origin(response) if response is not None else None
    to = f" to {target}" if target else ""
    return f"{where} answered with a redirect{to}, which metpost never follows"


def _redirect_refused(error: requests.TooManyRedirects, where: str) -> PublishError:
    """A redirect answer: nothing went to where it points. After a write the platform had the
    request and answered something other than a result, so the post may exist: look for it
    before any resend. After a read (a listing) it is an error like any refusal."""
    response = error.response
    status = response.status_code if response is not None else None
    request = error.request if error.request is not None else (
        response.request if response is not None else None)
    method = str(request.method or "GET").upper() if request is not None else "GET"
    said = redirect_refusal(error, where)
    if method in SAFE_METHODS:
        return PublishError(said, status=status)
    effect = "the post may have been deleted" if method == "DELETE" else (
        "the post may have gone out")
    return PublishError(f"{said}; {effect}", maybe_posted=True, status=status)


def redirect_origin(response: requests.Response) -> str | None:
    """scheme://host[:port] of the answer's Location, read against the URL it answered."""
    from urllib.parse import urljoin, urlsplit

    location = response.headers.get("Location", "")
    try:
        parts = urlsplit(urljoin(response.url or "", location.strip()))
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in ("http", "https"):
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


# Why a TLS handshake fails (OpenSSL's reasons): always before a byte of the request is sent.
HANDSHAKE_REASONS = frozenset({
    "WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
    "TLSV1_ALERT_PROTOCOL_VERSION", "SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_UNKNOWN_CA",
    "TLSV1_UNRECOGNIZED_NAME", "TLSV1_ALERT_INTERNAL_ERROR", "NO_SHARED_CIPHER",
    "CERTIFICATE_VERIFY_FAILED"})


def _handshake_refused(error: Exception) -> str | None:
    """What went wrong when ``error`` (an SSL failure) came from the TLS handshake, which
    precedes the request, so nothing was sent; None when it may have come later."""
    import ssl

    from urllib3.util.ssl_match_hostname import CertificateError

    for seen in _causes(error):
        if isinstance(seen, ssl.SSLCertVerificationError | CertificateError):
            detail = getattr(seen, "verify_message", None) or str(seen)
            return (f"its certificate could not be verified ({detail}); a missing CA "
                    "bundle (REQUESTS_CA_BUNDLE) or a proxy that intercepts TLS may be why")
        if isinstance(seen, ssl.SSLError) and seen.reason in HANDSHAKE_REASONS:
            return f"the TLS handshake failed ({seen.reason.lower().replace('_', ' ')})"
    return None


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps: urllib3's reasons, exceptions given as arguments, causes."""
    found: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and seen not in found:
        found.append(seen)
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            seen = reason
            continue
        args = getattr(seen, "args", ())
        nested = next((arg for arg in args if isinstance(arg, BaseException)), None)
        seen = nested or seen.__cause__ or seen.__context__
    return found


def _never_connected(error: Exception) -> bool:
    """True when the failure happened before any bytes of the request were sent."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    return any(isinstance(seen, NewConnectionError | NameResolutionError | ConnectionRefusedError)
               for seen in _causes(error))

