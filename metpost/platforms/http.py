"""HTTP plumbing shared by clients whose libraries talk through ``requests``.

tweepy and facebook-sdk hard-code their hosts and set no timeouts. Rather than patch them, we
mount a transport adapter on the ``requests.Session`` each library uses: it sends the request to
the account's ``api_url`` when one is configured, and always applies connect/read timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from metpost.platforms.api import PublishError, Timeouts

if TYPE_CHECKING:
    import requests


def routed_session(session: requests.Session, origin: str, api_url: str | None,
                   timeouts: Timeouts) -> requests.Session:
    """Mount an adapter on ``session`` for ``origin`` (e.g. ``https://api.twitter.com``)."""
    from requests.adapters import HTTPAdapter

    class RoutedAdapter(HTTPAdapter):
        """Rewrites the origin to ``api_url`` and enforces timeouts; never retries by itself."""

        def send(self, request: requests.PreparedRequest, stream: bool = False,
                 timeout: Any = None, verify: bool | str = True, cert: Any = None,
                 proxies: Mapping[str, str] | None = None) -> requests.Response:
            if api_url and request.url and request.url.startswith(origin):
                request.url = api_url + request.url[len(origin):]
            return super().send(request, stream=stream, timeout=(timeouts.connect, timeouts.read),
                                verify=verify, cert=cert, proxies=proxies)

    # max_retries=0: a silent transport-level retry of a POST could publish twice.
    session.mount(origin, RoutedAdapter(max_retries=0))
    _settle_environment(session, origin)
    return session


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

    if isinstance(error, requests.ConnectTimeout):
        return PublishError(f"could not connect to {where} in time", retry_safe=True)
    if isinstance(error, requests.ReadTimeout):
        return PublishError(f"{where} did not answer in time; the post may have gone out",
                            maybe_posted=True)
    if isinstance(error, requests.ConnectionError) and _never_connected(error):
        return PublishError(f"could not connect to {where}", retry_safe=True)
    return PublishError(f"the connection to {where} broke before it answered; "
                        "the post may have gone out", maybe_posted=True)


def _never_connected(error: Exception) -> bool:
    """True when the failure happened before any bytes of the request were sent."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, NewConnectionError | NameResolutionError | ConnectionRefusedError):
            return True
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException) and reason is not seen:
            seen = reason
            continue
        args = getattr(seen, "args", ())
        nested = next((arg for arg in args if isinstance(arg, BaseException)), None)
        seen = nested or seen.__cause__ or seen.__context__
    return False
