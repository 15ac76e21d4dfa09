"""Members of a Slack user group, for the people CANCEL_ALLOWED names by group
(``usergroups.users.list``, scope ``usergroups:read``), cached for a few minutes. A Slack
error counts as "not a member": refuse, never allow by accident."""

from __future__ import annotations

import logging
import threading

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

#: Seconds a group's member list is trusted.
GROUP_TTL = 300.0


class GroupMembers:
    """``usergroups.users.list``, cached per group for :data:`GROUP_TTL` seconds."""

    def __init__(self, client: WebClient, *, ttl: float = GROUP_TTL) -> None:
        self._client = client
        self._cache: TTLCache[str, frozenset[str]] = TTLCache(maxsize=256, ttl=ttl)
        self._lock = threading.Lock()

    def __call__(self, group_id: str) -> frozenset[str]:
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is not None:
            return cached
        try:
            users = self._client.usergroups_users_list(usergroup=group_id).get("users") or []
            members = frozenset(u for u in users if isinstance(u, str))
        except (SlackApiError, OSError) as e:
            log.warning("usergroups.users.list failed for %s: %s", group_id, e)
            return frozenset()  # not cached: the next press asks again
        with self._lock:
            self._cache[group_id] = members
        return members
