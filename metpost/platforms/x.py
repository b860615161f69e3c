"""X (Twitter) through tweepy's API v2 client, OAuth 1.0a user context."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, TypeVar

from metpost.models import Receipt
from metpost.platforms.base import Platform, PublishError, RemotePost, TextLimits
from metpost.platforms.http import routed_session, transport_error

if TYPE_CHECKING:
    import tweepy

X_ORIGIN = "https://api.twitter.com"
T = TypeVar("T")


class XPlatform(Platform):
    """Posts with ``tweepy.Client.create_tweet``; length is X's weighted count."""

    name = "x"
    title = "X"
    credential_keys = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    limits = TextLimits(max_length=280, unit="weighted characters")
    permanent_statuses: ClassVar[dict[int, str]] = {
        400: "X refused the request as invalid",
        401: "X refused the credentials (revoked or wrong keys)",
        403: "X refused the post",
        404: "X does not know this post or endpoint",
    }

    @classmethod
    def length(cls, text: str) -> int:
        """X's weighted length (URLs 23, emoji and CJK 2)."""
        from metpost.textrules import weighted_length

        return weighted_length(text)

    def publish(self, text: str) -> Receipt:
        """Create a post (POST /2/tweets)."""
        response = self._call(lambda client: client.create_tweet(text=text, user_auth=True))
        data = response.data or {}
        remote_id = str(data.get("id", ""))
        if not remote_id:
            raise PublishError("X accepted the request but returned no post id",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=self.post_url(remote_id))

    def recent_posts(self, limit: int = 20) -> list[RemotePost]:
        """The account's newest posts (GET /2/users/me, then GET /2/users/:id/tweets)."""
        me = self._call(lambda client: client.get_me(user_auth=True))
        user_id = me.data.id
        response = self._call(lambda client: client.get_users_tweets(
            user_id, max_results=max(5, min(limit, 100)), tweet_fields=["created_at"],
            user_auth=True))
        return [RemotePost(remote_id=str(tweet.id), text=tweet.text,
                           url=self.post_url(str(tweet.id)), created_at=tweet.created_at)
                for tweet in response.data or ()]

    def delete(self, remote_id: str) -> None:
        """Delete a post (DELETE /2/tweets/:id); one that is already gone counts as deleted."""
        try:
            self._call(lambda client: client.delete_tweet(remote_id, user_auth=True))
        except PublishError as error:
            if error.status != 404:
                raise

    def post_url(self, remote_id: str) -> str:
        """The public address of a post."""
        handle = (self.destination.handle or "").lstrip("@")
        return f"https://x.com/{handle or 'i/web'}/status/{remote_id}"

    def _call(self, request: Callable[[tweepy.Client], T]) -> T:
        """Run one API call, turning tweepy's and requests' errors into PublishError."""
        import requests
        import tweepy

        try:
            return request(self._client)
        except tweepy.TooManyRequests as error:
            reset = error.response.headers.get("x-rate-limit-reset")
            raise PublishError(
                "X rate limit reached", retry_safe=True, status=429,
                retry_at=float(reset) if reset and reset.isdigit() else None,
            ) from None
        except tweepy.TwitterServerError as error:
            raise PublishError(f"X server error: {self._reason(error)}", retry_safe=True,
                               status=error.response.status_code) from None
        except tweepy.HTTPException as error:
            status = error.response.status_code
            summary = self.permanent_statuses.get(status, f"X answered HTTP {status}")
            raise PublishError(f"{summary}: {self._reason(error)}", status=status) from None
        except requests.RequestException as error:
            raise transport_error(error, "X") from None

    @cached_property
    def _client(self) -> tweepy.Client:
        import tweepy

        credentials = self.destination.credentials
        client = tweepy.Client(
            consumer_key=credentials["consumer_key"],
            consumer_secret=credentials["consumer_secret"],
            access_token=credentials["access_token"],
            access_token_secret=credentials["access_token_secret"],
        )
        routed_session(client.session, X_ORIGIN, self.destination.api_url,
                       self.destination.timeouts)
        return client

    @staticmethod
    def _reason(error: tweepy.HTTPException) -> str:
        """The platform's own words: problem JSON detail/title, else the status line."""
        if error.api_messages:
            return "; ".join(str(message) for message in error.api_messages)
        return f"{error.response.status_code} {error.response.reason}"
