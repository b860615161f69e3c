"""Facebook pages through facebook-sdk's GraphAPI.

facebook-sdk 3.1.0 defaults to Graph v2.8, long retired, and its constructor refuses anything
newer than 3.1, so we build the client without a version and set a current one afterwards.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metpost.models import Receipt
from metpost.platforms.base import Platform, PublishError, TextLimits
from metpost.platforms.http import routed_session, transport_error

if TYPE_CHECKING:
    import facebook

GRAPH_ORIGIN = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v24.0"
GRAPH_VERSION = re.compile(r"^v?(\d+\.\d+)$")

# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling)
TRANSIENT_CODES = {1, 2}
RATE_LIMIT_CODES = {4, 17, 32, 613}
TOKEN_CODES = {102, 190}


class FacebookPlatform(Platform):
    """Posts to a page's feed with the page access token."""

    name = "facebook"
    title = "Facebook"
    credential_keys = ("page_access_token",)
    account_fields = {"page_id": True, "graph_version": False}  # noqa: RUF012
    limits = TextLimits(max_length=63206)

    def publish(self, text: str) -> Receipt:
        """Post to ``/{page_id}/feed``; map facebook-sdk's errors to PublishError."""
        import facebook
        import requests

        graph, statuses = self._graph()
        page_id = self.destination.settings["page_id"]
        try:
            result = graph.put_object(page_id, "feed", message=text)
        except facebook.GraphAPIError as error:
            raise self._graph_error(error, statuses[-1] if statuses else None) from None
        except requests.RequestException as error:
            raise transport_error(error, "Facebook") from None
        except (KeyError, ValueError):
            # facebook-sdk fails this way on a body that is not JSON (a proxy's error page).
            status = statuses[-1] if statuses else None
            raise PublishError(f"Facebook answered HTTP {status} with an unreadable body",
                               retry_safe=status is not None and status >= 500,
                               status=status) from None
        remote_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        if not remote_id:
            raise PublishError("Facebook accepted the request but returned no post id",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=self.post_url(remote_id))

    @staticmethod
    def post_url(remote_id: str) -> str:
        """The public address of a page post (ids look like PAGEID_POSTID)."""
        page, _, post = remote_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{post}" if post else (
            f"https://www.facebook.com/{remote_id}")

    def graph_version(self) -> str:
        """The Graph API version to call, like ``v24.0``."""
        configured = self.destination.settings.get("graph_version", DEFAULT_GRAPH_VERSION)
        match = GRAPH_VERSION.match(configured)
        if not match:
            raise PublishError(f"graph_version '{configured}' is not like v24.0")
        return "v" + match.group(1)

    def _graph(self) -> tuple[facebook.GraphAPI, list[int]]:
        import facebook
        import requests

        statuses: list[int] = []
        session = requests.Session()
        session.hooks["response"].append(lambda response, **_: statuses.append(
            response.status_code))
        routed_session(session, GRAPH_ORIGIN, self.destination.api_url, self.destination.timeouts)
        graph = facebook.GraphAPI(
            access_token=self.destination.credentials["page_access_token"], session=session)
        graph.version = self.graph_version()
        return graph, statuses

    @staticmethod
    def _graph_error(error: facebook.GraphAPIError, status: int | None) -> PublishError:
        result = error.result if isinstance(error.result, dict) else {}
        details = result.get("error", {}) if isinstance(result.get("error"), dict) else {}
        code = details.get("code")
        message = str(details.get("message") or error.message)
        words = f"{message} (code {code})" if code is not None else message
        if code in RATE_LIMIT_CODES:
            return PublishError(f"Facebook rate limit reached: {words}", retry_safe=True,
                                status=status)
        if code in TRANSIENT_CODES or details.get("is_transient") or (status or 0) >= 500:
            return PublishError(f"Facebook server error: {words}", retry_safe=True, status=status)
        if code in TOKEN_CODES:
            return PublishError(f"Facebook refused the page token: {words}", status=status)
        return PublishError(f"Facebook refused the post: {words}", status=status)
