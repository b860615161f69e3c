"""Facebook pages through facebook-sdk's GraphAPI.

facebook-sdk 3.1.0 defaults to Graph v2.8, long retired, and its constructor refuses anything
newer than 3.1, so we build the client without a version and set a current one afterwards. Its
host is a module constant, so ``api_url`` is honoured by the session adapter, as for X.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from metpost.models import Receipt
from metpost.platforms.base import Platform, PublishError, RemotePost, TextLimits
from metpost.platforms.http import routed_session, transport_error

if TYPE_CHECKING:
    import facebook
    import requests

GRAPH_ORIGIN = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v24.0"
GRAPH_VERSION = re.compile(r"^v?(\d+\.\d+)$")

# Graph error codes (Graph API guide, "Handling Errors")
TRANSIENT_CODES = {1, 2}
RATE_LIMIT_CODES = {4, 17, 32, 613}
TOKEN_CODES = {102, 190}
NONEXISTENT_OBJECT = (100, 33)  # code, subcode: "Object with ID ... does not exist"
T = TypeVar("T")


def _graph_time(value: object) -> datetime | None:
    """Graph's timestamps look like 2026-11-24T07:00:00+0000."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


class FacebookPlatform(Platform):
    """Posts to a page's feed with the page access token."""

    name = "facebook"
    title = "Facebook"
    credential_keys = ("page_access_token",)
    account_fields = {"page_id": True, "graph_version": False}  # noqa: RUF012
    limits = TextLimits(max_length=63206)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """page_id must be numeric; graph_version must look like v24.0."""
        problems = {}
        if not settings.get("page_id", "0").isdigit():
            problems["page_id"] = "must be the page's numeric id, like \"123456789\""
        version = settings.get("graph_version")
        if version is not None and not GRAPH_VERSION.match(version):
            problems["graph_version"] = f"'{version}' is not a Graph API version like v24.0"
        return problems

    def publish(self, text: str) -> Receipt:
        """Post to the page (POST /{page_id}/feed)."""
        page_id = self.destination.settings["page_id"]
        result = self._call(lambda graph: graph.put_object(page_id, "feed", message=text))
        remote_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        if not remote_id:
            raise PublishError("Facebook accepted the request but returned no post id",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=self.post_url(remote_id))

    def recent_posts(self, limit: int = 20) -> list[RemotePost]:
        """The page's newest posts (GET /{page_id}/posts)."""
        page_id = self.destination.settings["page_id"]
        result = self._call(lambda graph: graph.get_connections(
            page_id, "posts", fields="id,message,created_time", limit=str(limit)))
        return [RemotePost(remote_id=str(item["id"]), text=str(item.get("message", "")),
                           url=self.post_url(str(item["id"])),
                           created_at=_graph_time(item.get("created_time")))
                for item in result.get("data", []) if isinstance(item, dict) and "id" in item]

    def delete(self, remote_id: str) -> None:
        """Delete a post (DELETE /{post_id}); one that is already gone counts as deleted."""
        try:
            self._call(lambda graph: graph.delete_object(remote_id))
        except PublishError as error:
            if error.code == NONEXISTENT_OBJECT:
                return
            raise

    @staticmethod
    def post_url(remote_id: str) -> str:
        """The public address of a page post (ids look like PAGEID_POSTID)."""
        page, _, post = remote_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{post}" if post else (
            f"https://www.facebook.com/{remote_id}")

    def graph_version(self) -> str:
        """The Graph API version to call, like ``v24.0`` (validated when the config loads)."""
        configured = self.destination.settings.get("graph_version", DEFAULT_GRAPH_VERSION)
        return "v" + configured.removeprefix("v")

    def _call(self, request: Callable[[facebook.GraphAPI], T]) -> T:
        """Run one Graph call, turning facebook-sdk's and requests' errors into PublishError."""
        import facebook
        import requests

        self._last_response = None
        try:
            return request(self._graph)
        except facebook.GraphAPIError as error:
            raise self._graph_error(error) from None
        except requests.RequestException as error:
            raise transport_error(error, "Facebook") from None
        except (KeyError, ValueError):
            # facebook-sdk fails this way on a body that is not JSON (a proxy's error page).
            status = self._status
            raise PublishError(f"Facebook answered HTTP {status} with an unreadable body",
                               retry_safe=status is not None and status >= 500,
                               status=status) from None

    @cached_property
    def _graph(self) -> facebook.GraphAPI:
        import facebook
        import requests

        session = requests.Session()
        session.hooks["response"].append(self._remember)
        routed_session(session, GRAPH_ORIGIN, self.destination.api_url, self.destination.timeouts)
        graph = facebook.GraphAPI(
            access_token=self.destination.credentials["page_access_token"], session=session)
        graph.version = self.graph_version()
        return graph

    _last_response: requests.Response | None = None

    def _remember(self, response: requests.Response, **_: object) -> None:
        self._last_response = response

    @property
    def _status(self) -> int | None:
        return self._last_response.status_code if self._last_response is not None else None

    def _graph_error(self, error: facebook.GraphAPIError) -> PublishError:
        result = error.result if isinstance(error.result, dict) else {}
        details = result.get("error")
        if not isinstance(details, dict):
            details = {}
        code, subcode = details.get("code"), details.get("error_subcode")
        message = str(details.get("message") or error.message)
        words = f"{message} (code {code})" if code is not None else message
        status = self._status
        if code in RATE_LIMIT_CODES:
            retry_at = self._retry_after()
            failure = PublishError(f"Facebook rate limit reached: {words}", retry_safe=True,
                                   status=status, retry_at=retry_at)
        elif code in TRANSIENT_CODES or details.get("is_transient") or (status or 0) >= 500:
            failure = PublishError(f"Facebook server error: {words}", retry_safe=True,
                                   status=status)
        elif code in TOKEN_CODES:
            failure = PublishError(f"Facebook refused the page token: {words}", status=status)
        else:
            failure = PublishError(f"Facebook refused the request: {words}", status=status)
        failure.code = (code, subcode)
        return failure

    def _retry_after(self) -> float | None:
        header = self._last_response.headers.get("Retry-After") if self._last_response else None
        return time.time() + float(header) if header and header.isdigit() else None
