"""Slack's user groups: the members of one, for the people CANCEL_ALLOWED names by group
(``usergroups.users.list``), and whether one exists, for ``notify=@group``
(``usergroups.list``); both scope ``usergroups:read``, cached for a few minutes. A Slack
error counts as "not a member" (refuse, never allow by accident) and as "cannot tell"
for existence."""

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


class UserGroupDirectory:
    """``known(group_id)``: True when the workspace has that user group, False when it
    does not, None when Slack cannot be asked (``usergroups.list``, cached)."""

    def __init__(self, client: WebClient, *, ttl: float = GROUP_TTL) -> None:
        self._client = client
        self._cache: TTLCache[str, frozenset[str]] = TTLCache(maxsize=1, ttl=ttl)
        self._lock = threading.Lock()

    def known(self, group_id: str) -> bool | None:
        with self._lock:
            ids = self._cache.get("ids")
        if ids is None or group_id not in ids:  # a group made a minute ago: ask again
            try:
                groups = self._client.usergroups_list().get("usergroups") or []
            except (SlackApiError, OSError) as e:
                log.warning("usergroups.list failed: %s", e)
                return None
            ids = frozenset(g["id"] for g in groups if isinstance(g, dict)
                            and isinstance(g.get("id"), str) and not g.get("date_delete"))
            with self._lock:
                self._cache["ids"] = ids
        return group_id in ids
