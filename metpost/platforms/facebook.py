"""Facebook pages through facebook-sdk's GraphAPI.

facebook-sdk 3.1.0 defaults to Graph v2.8, long retired, and its constructor refuses anything
newer than 3.1, so we build the client without a version and set a current one afterwards. Its
host is a module constant, so ``api_url`` is honoured by the session adapter, as for X.

How Graph answers, and what metpost makes of it (developers.facebook.com: Graph API "Handling
Errors", "Rate Limits", Pages API "Posts"):

- Errors are ``{"error": {"message", "type", "code", "error_subcode", "is_transient"}}``.
- Throttling is an error code, not HTTP 429: 4 (app), 17 (user), 32 (page), 613 (this call's
  limit), 80001 (page business-use-case limit), 341 (app's feed-action limit). When to try again
  is in the usage headers (``X-Business-Use-Case-Usage``, ``X-Page-Usage``, ``X-App-Usage``):
  ``estimated_time_to_regain_access``, in minutes. No ``Retry-After`` is sent.
- Code 4 is the app's Platform rate limit, "calculated as the number of calls within a rolling
  one hour window", and "when the limit has been reached, stop making API calls. Continuing to
  make calls will continue to increase your call count" (Graph API "Rate Limits"). So it is no
  backoff: the post fails at once, and every page of the app is held (until the usage headers'
  time if they give one, else for the rest of the run), with no further request; the failed
  posts are left for ``metpost retry``. The other limits wait (or back off) while the deadline
  allows, holding the page (17, 32, 613, 80001) or the app (341).
- Codes 1 (unknown error) and 2 (service temporarily unavailable), and any 5xx, can come after
  the page post was made: *maybe posted*, looked for before any resend.
- An answer facebook-sdk cannot read (no ``Content-Type``, a type that is not JSON, a body that
  is not JSON: a proxy's page, a cut-off body) says nothing of what Graph did: to a write, even
  with a 2xx, the post may exist, and is looked for before any resend; to a read it is an error.
- Code 506 "Duplicate status message": the page's latest post has this text already.
- Code 100 with subcode 33 is both "does not exist" and "cannot be loaded due to missing
  permissions", so after a delete that answers it, a lookup decides whether the post is gone:
  the post must not load, and the token must be its page's own (``GET /me`` with a page token
  is the page); a token of another page, or one Graph will not place, cannot tell.
- Images (Graph API reference "Photo" and "Page Photos"): each is uploaded unpublished,
  ``POST /{page-id}/photos`` with the file as ``source``, ``published=false`` and the alt text
  as ``alt_text_custom`` ("Accessible alternative description for an image"), which answers
  the photo's ``id``; then one page post, ``POST /{page-id}/feed`` with the text as ``message``
  and ``attached_media[N]={"media_fbid": id}``, carries them all. An unpublished photo is no
  post ("if you do not publish these photos within 24 hours, we delete them"), so an upload
  that fails is simply tried again; the feed post is the one request that may post, and is
  handled as any post. A photo "must be less than 10MB in size", and animated ones are not
  supported. The types (JPEG, PNG, GIF, BMP, TIFF) and the most photos in one post (10) are
  not on Meta's pages: they are as third-party posting services list them (ayrshare.com and
  getlate.dev media guidelines for Facebook Pages).
- Pages take no threads: a text too long for one page post (63,206 characters) is refused.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, TypeVar

from metpost.platforms.api import (
    Capabilities,
    Identity,
    Media,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemotePost,
    TextLimits,
)
from metpost.platforms.http import platform_clock_ahead, routed_session, transport_error

if TYPE_CHECKING:
    import facebook
    import requests

GRAPH_ORIGIN = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v24.0"
GRAPH_VERSION = re.compile(r"v?[0-9]+\.[0-9]+")
PAGE_ID = re.compile(r"[0-9]+")

MAYBE_POSTED_CODES = {1, 2}
# code -> whom the limit applies to: the page (this account) or the whole app.
RATE_LIMIT_CODES = {4: "app", 17: "account", 32: "account", 613: "account", 80001: "account",
                    341: "app"}
APP_HOUR_LIMIT = 4  # the app's limit over a rolling hour: stop calling, do not back off
TOKEN_CODES = {102, 190}
DUPLICATE_CODE = 506
POLICY_BLOCK_CODE = 368  # "temporarily blocked for policies violations": lasts beyond a run
PERMISSION_CODES = {10, *range(200, 300)}
PERMISSION_NAME = re.compile(r"\b(pages_[a-z_]+|publish_[a-z_]+|business_[a-z_]+)\b")
NONEXISTENT_OBJECT = (100, 33)  # "does not exist, cannot be loaded due to missing permissions"
APP_THROTTLE_KEY = "facebook-app"
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")
T = TypeVar("T")


def _graph_time(value: object) -> datetime | None:
    """Graph's timestamps look like 2026-11-24T07:00:00+0000."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def regain_access_minutes(headers: Mapping[str, str]) -> float | None:
    """The longest ``estimated_time_to_regain_access`` (minutes) in Graph's usage headers."""
    found: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "estimated_time_to_regain_access" and isinstance(item, int | float):
                    found.append(float(item))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if raw:
            try:
                walk(json.loads(raw))
            except ValueError:
                continue
    return max(found) if found else None


def unreadable_answer(response: requests.Response | None) -> str:
    """What an answer facebook-sdk could not read was, in words: "200 with a body that is not
    JSON (text/html)". Never the body itself, which may be anything."""
    if response is None:
        return "with nothing metpost could read"
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    label = content_type or "no Content-Type"
    body = response.content
    if not body:
        what = "an empty body"
    else:
        try:
            json.loads(body)
            what = "a body not labelled as JSON"
        except ValueError:
            what = "a body that is not JSON"
    return f"{response.status_code} with {what} ({label})"


def _page_posts(graph: facebook.GraphAPI, page_id: str, arguments: dict[str, str]) -> Any:
    """One page of a Facebook page's posts."""
    return graph.get_connections(page_id, "posts", **arguments)


class FacebookPlatform(Platform):
    """Posts to a page's feed with the page access token."""

    name = "facebook"
    title = "Facebook"
    credential_keys = ("page_access_token",)
    account_fields = {"page_id": True, "graph_version": False}  # noqa: RUF012
    destination_fields = {"page_id": False}  # noqa: RUF012
    limits = TextLimits(max_length=63206)
    capabilities = Capabilities(can_list_recent=True, can_delete=True, can_verify=True,
                                media=True, max_media=10,
                                media_types=("image/jpeg", "image/png", "image/gif",
                                             "image/bmp", "image/tiff"),
                                max_media_bytes=10_000_000)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """page_id must be ASCII digits; graph_version must look like v24.0."""
        problems = {}
        if not PAGE_ID.fullmatch(settings.get("page_id", "0")):
            problems["page_id"] = "must be the page's numeric id, like \"123456789\""
        version = settings.get("graph_version")
        if version is not None and not GRAPH_VERSION.fullmatch(version):
            problems["graph_version"] = f"'{version}' is not a Graph API version like v24.0"
        return problems

    # -- publishing ------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Receipt:
        """Post to the page (POST /{page_id}/feed), with its images uploaded first as
        unpublished photos and attached to the post."""
        page_id = self.destination.settings["page_id"]
        attached = {f"attached_media[{number}]": json.dumps(
            {"media_fbid": self._photo(request.idempotency_key, number, item)})
            for number, item in enumerate(request.media)}
        result = self._call(lambda graph: graph.put_object(page_id, "feed", message=request.text,
                                                           **attached),
                            effect="the post may have gone out")
        remote_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        if not remote_id:
            raise PublishError("Facebook accepted the request but returned no post id",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=self.post_url(remote_id))

    def _photo(self, key: str, number: int, item: Media) -> str:
        """The id of the post's image ``number`` as an unpublished photo of the page, uploaded
        once per run and used again when the post is resent."""
        uploads = self.__dict__.setdefault("_uploads", {})
        if (key, number) in uploads:
            return str(uploads[(key, number)])
        try:
            content = item.path.read_bytes()
        except OSError as error:
            raise PublishError(f"cannot read the image {item.path}: {error.strerror}") from None
        page_id = self.destination.settings["page_id"]
        fields = {"published": "false"}
        if item.alt_text:
            fields["alt_text_custom"] = item.alt_text
        try:
            result = self._call(lambda graph: graph.put_photo(
                (item.path.name, content, item.mime_type), album_path=f"{page_id}/photos",
                **fields), effect="the image may have been uploaded")
        except PublishError as error:
            if error.maybe_posted:  # an answer lost: but an unpublished photo is no post
                error.maybe_posted, error.retry_safe = False, True
            error.reason = f"{error.reason} (uploading an image; no post was made)"
            raise
        photo_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        if not photo_id:
            raise PublishError("Facebook took the image but returned no photo id",
                               retry_safe=True)
        uploads[(key, number)] = photo_id
        return photo_id

    # -- who the credentials belong to ----------------------------------------------------

    def whoami(self) -> Identity:
        """The page the token reaches (GET /{page-id}?fields=name,username): its username, if
        it has one, is what accounts.yaml's handle names."""
        page_id = self.destination.settings["page_id"]
        try:
            page = self._call(lambda graph: graph.get_object(page_id, fields="name,username"))
        except PublishError as error:
            if error.code == NONEXISTENT_OBJECT:  # also Graph's word for "not with this token"
                raise PublishError(f"page {page_id} is not reachable with this token: "
                                   f"{error.reason}", code=error.code,
                                   status=error.status) from None
            raise
        name = str(page.get("name") or "") if isinstance(page, dict) else ""
        username = page.get("username") if isinstance(page, dict) else None
        return Identity(handle=str(username) if username else None, name=name or None)

    # -- finding a post --------------------------------------------------------------------

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The page's posts since ``since`` (GET /{page_id}/posts), following the cursors."""
        page_id = self.destination.settings["page_id"]
        found: list[RemotePost] = []
        after: str | None = None
        while len(found) < limit:
            args = {"fields": "id,message,created_time", "limit": str(min(100, limit)),
                    "since": str(int(since.timestamp()))}
            if after:
                args["after"] = after
            result = self._call(partial(_page_posts, page_id=page_id, arguments=args))
            items = [item for item in result.get("data", []) if isinstance(item, dict)
                     and "id" in item]
            found.extend(RemotePost(remote_id=str(item["id"]),
                                    text=str(item.get("message", "")),
                                    url=self.post_url(str(item["id"])),
                                    created_at=_graph_time(item.get("created_time")))
                         for item in items)
            paging = result.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not items or not after or not paging.get("next"):
                break
        return found[:limit]

    def clock_ahead(self) -> float | None:
        """Graph's clock against ours, by its latest answer's ``Date``."""
        if "_graph" not in self.__dict__:
            return None
        return platform_clock_ahead(self._graph.session, GRAPH_ORIGIN)

    # -- deleting --------------------------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete a post (DELETE /{post_id}); return once Graph no longer has it.

        Graph answers 100/33 ("does not exist, cannot be loaded due to missing permissions")
        for a post that is gone and for one the token may not see alike. So after a delete
        that answers it, the post is looked up (still there: not deleted), and then the token
        must be the post's page's own (GET /me): only a token that sees the page can tell
        that a post it cannot load is gone."""
        try:
            self._call(lambda graph: graph.delete_object(remote_id),
                       effect="the post may have been deleted")
            return
        except PublishError as error:
            if error.code != NONEXISTENT_OBJECT:
                raise
            refusal = error
        try:
            self._call(lambda graph: graph.get_object(remote_id, fields="id"))
        except PublishError as error:
            if error.code != NONEXISTENT_OBJECT:
                raise
        else:
            raise PublishError("Facebook did not delete the post, which is still on the page: "
                               "the page token may lack the pages_manage_posts permission "
                               f"({refusal.reason})", code=refusal.code, status=refusal.status)
        page = remote_id.partition("_")[0] if "_" in remote_id else (
            self.destination.settings["page_id"])
        try:
            me = self._call(lambda graph: graph.get_object("me", fields="id"))
        except PublishError as error:  # tried again when Graph says that may work
            raise PublishError(self._unconfirmed(
                remote_id, page, refusal, f"Graph would not say whose the token is: "
                f"{error.reason}"), retry_safe=error.retry_safe, retry_at=error.retry_at,
                code=refusal.code, status=refusal.status) from None
        owner = str(me.get("id") or "") if isinstance(me, dict) else ""
        if owner != page:
            raise PublishError(self._unconfirmed(
                remote_id, page, refusal, f"the token is page {owner}'s, not page {page}'s"
                if owner else "Graph did not say whose the token is"),
                code=refusal.code, status=refusal.status)

    def _unconfirmed(self, remote_id: str, page: str, refusal: PublishError, why: str) -> str:
        """Why a post Graph says does not exist may still be on ``page``, and what to do."""
        account = self.destination.account
        return (f"Facebook answered that post {remote_id} does not exist, which Graph also "
                f"answers for a post the token may not see ({refusal.reason}), and {why}, so "
                f"it may still be on the page: give {account} the token of page {page} "
                f"(metpost accounts verify --account {account} says whose it is), then "
                "retract again")

    def throttle_keys(self) -> tuple[str, ...]:
        """The Graph app's limits (codes 4 and 341) are shared by every page of the app."""
        return (APP_THROTTLE_KEY,)

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

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, request: Callable[[facebook.GraphAPI], T], *,
              effect: str | None = None) -> T:
        """Run one Graph call, turning facebook-sdk's and requests' errors into PublishError.
        ``effect``: what the call may have done when its answer says nothing ("the post may
        have gone out"); None for a read, which changes nothing."""
        import facebook
        import requests

        self._last_response = None
        writing = effect is not None
        try:
            return request(self._graph)
        except requests.JSONDecodeError:  # labelled JSON, but not JSON (before its base class)
            raise self._unreadable(effect) from None
        except facebook.GraphAPIError as error:
            if not isinstance(error.result, dict):  # "Maintype was not text, image, ..."
                raise self._unreadable(effect) from None
            raise self._graph_error(error, writing) from None
        except requests.RequestException as error:
            raise transport_error(error, "Facebook") from None
        except (KeyError, ValueError):  # no Content-Type at all (a KeyError), a bad encoding
            raise self._unreadable(effect) from None

    def _unreadable(self, effect: str | None) -> PublishError:
        """An answer facebook-sdk could not read: whatever its status, it does not say what
        Graph did, so a write may have been done; a read failed (worth trying again if the
        server said it failed)."""
        response = self._last_response
        status = self._status
        words = f"Facebook answered {unreadable_answer(response)}"
        if effect is not None:
            return PublishError(f"{words}; {effect}", maybe_posted=True, status=status)
        return PublishError(words, retry_safe=status is None or status >= 500, status=status)

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

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if "_graph" in self.__dict__:
            self._graph.session.close()

    _last_response: requests.Response | None = None

    def _remember(self, response: requests.Response, **_: object) -> None:
        self._last_response = response

    @property
    def _posted_to(self) -> bool:
        """Whether the last request was a POST (to the page's feed or photos), not a delete or
        a read."""
        response = self._last_response
        return response is not None and response.request.method == "POST"

    @property
    def _status(self) -> int | None:
        return self._last_response.status_code if self._last_response is not None else None

    def _graph_error(self, error: facebook.GraphAPIError, writing: bool) -> PublishError:
        result = error.result if isinstance(error.result, dict) else {}
        details = result.get("error")
        if not isinstance(details, dict):
            details = {}
        code, subcode = details.get("code"), details.get("error_subcode")
        message = str(details.get("message") or error.message)
        words = f"{message} (code {code})" if code is not None else message
        status = self._status
        failure: PublishError
        if code == APP_HOUR_LIMIT:
            # Not retry_safe: within this run nothing is tried again, and the hold it places
            # lasts until the usage headers' time (or the run's end); metpost retry sends it.
            regain_at = self._regain_access_at()
            advice = ("metpost retry once Facebook lifts it" if regain_at is not None else
                      "Meta computes it over an hour: metpost retry later")
            failure = PublishError(
                f"Facebook's app-wide request limit is reached (#{code}); {advice}",
                status=status, retry_at=regain_at, problem="rate-limit",
                throttle_key=APP_THROTTLE_KEY)
        elif code in RATE_LIMIT_CODES:
            failure = PublishError(
                f"Facebook rate limit reached: {words}", retry_safe=True, status=status,
                retry_at=self._regain_access_at(), problem="rate-limit",
                throttle_key=APP_THROTTLE_KEY if RATE_LIMIT_CODES[code] == "app" else None)
        elif code in MAYBE_POSTED_CODES or details.get("is_transient") or (status or 0) >= 500:
            failure = PublishError(f"Facebook server error: {words}", status=status,
                                   maybe_posted=writing, retry_safe=not writing)
        elif code == DUPLICATE_CODE:
            failure = PublishError(f"Facebook refused the post as a duplicate: {words}",
                                   status=status, duplicate=True)
        elif code in TOKEN_CODES:
            failure = PublishError(f"Facebook refused the page token: {words}", status=status,
                                   problem="credentials")
        elif code == POLICY_BLOCK_CODE:
            failure = PublishError(f"Facebook has blocked the page from posting for a while, "
                                   f"for its policies: {words}; the post itself may be fine: "
                                   "metpost retry later", status=status)
        elif (code, subcode) == NONEXISTENT_OBJECT and self._posted_to:
            page = self.destination.settings.get("page_id")
            failure = PublishError(f"Facebook cannot find page {page}, or its token cannot post "
                                   f"to it: {words}", status=status, problem="destination")
        elif code in PERMISSION_CODES:
            named = PERMISSION_NAME.findall(message)
            failure = PublishError(f"Facebook refused: the page or app lacks a permission: "
                                   f"{words}", status=status, problem="permission",
                                   permission=", ".join(dict.fromkeys(named)) or
                                   "pages_manage_posts (posting as the page needs it)")
        else:
            failure = PublishError(f"Facebook refused the request: {words}", status=status,
                                   problem="invalid")
        failure.code = (code, subcode)
        return failure

    def _regain_access_at(self) -> float | None:
        if self._last_response is None:
            return None
        minutes = regain_access_minutes(self._last_response.headers)
        return time.time() + minutes * 60 if minutes else None

