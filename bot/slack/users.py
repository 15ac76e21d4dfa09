"""The requesting user's timezone, which decides what "today" means (README.md).

``users.info`` gives ``user.tz``, an IANA name used with :mod:`zoneinfo`. Its sibling
``tz_offset`` is a fixed number of seconds that ignores daylight-saving changes inside a
window (docs/slack-platform.md, "The user's timezone"), so it is never used.
"""

from __future__ import annotations

import logging
import threading
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cachetools import TLRUCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class TimezoneResolver:
    """``resolve(user_id) -> ZoneInfo``, cached and thread-safe; never raises.

    A Slack error (missing ``users:read`` scope, unknown user, network) or a timezone
    name ``zoneinfo`` does not know gives ``fallback`` (``VIDEOJOBS_TIMEZONE``); each kind
    of failure is logged once. Failures are cached for ``retry_after`` seconds only, so a
    passing outage does not pin a user to the fallback for the full ``ttl``.
    """

    def __init__(
        self,
        client: WebClient,
        fallback: ZoneInfo,
        *,
        ttl: float = 3600.0,
        retry_after: float = 60.0,
        maxsize: int = 10_000,
    ) -> None:
        self._client = client
        self._fallback = fallback

        def time_to_use(_user: str, entry: tuple[ZoneInfo, bool], now: float) -> float:
            return now + (ttl if entry[1] else retry_after)

        self._cache: TLRUCache[str, tuple[ZoneInfo, bool]] = TLRUCache(maxsize, time_to_use)
        self._lock = threading.Lock()
        self._logged: set[str] = set()

    @property
    def fallback(self) -> ZoneInfo:
        """``VIDEOJOBS_TIMEZONE``: the zone of no one in particular."""
        return self._fallback

    def resolve(self, user_id: str) -> ZoneInfo:
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is not None:
            return cached[0]
        # The users.info call happens outside the lock: one slow lookup must not hold up
        # every other user's command. Two concurrent misses for one user cost two calls.
        entry = self._lookup(user_id)
        with self._lock:
            self._cache[user_id] = entry
        return entry[0]

    def _lookup(self, user_id: str) -> tuple[ZoneInfo, bool]:
        try:
            name = self._client.users_info(user=user_id)["user"].get("tz")
        except SlackApiError as e:
            error = e.response.get("error") if e.response is not None else None
            return self._fail(f"users.info answered {error or 'an error'}")
        except (OSError, KeyError, TypeError) as e:  # network failures, odd payloads
            return self._fail(f"users.info failed ({type(e).__name__})")
        if not name:
            return self._fail("users.info gave no tz")
        try:
            return ZoneInfo(name), True
        except (ZoneInfoNotFoundError, ValueError):
            return self._fail(f"unknown timezone {name!r} from users.info")

    def _fail(self, reason: str) -> tuple[ZoneInfo, bool]:
        with self._lock:
            first = reason not in self._logged
            self._logged.add(reason)
        if first:
            log.warning("%s; using %s for such users (logged once)", reason, self._fallback.key)
        return self._fallback, False
