"""Who may press Cancel: the Slack user IDs and user group IDs of ``CANCEL_ALLOWED``.
Group membership comes from ``usergroups.users.list`` (scope ``usergroups:read``),
cached for a few minutes; a Slack error counts as "not a member" (refuse, never allow
by accident).

Views ask :func:`current` whether to show Cancel buttons at all; entry points call
:func:`install` once with the configured policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

#: Seconds a group's member list is trusted.
GROUP_TTL = 300.0


class CancelPolicy:
    """``allows(user_id)``: listed directly, or a member of a listed user group."""

    def __init__(self, allowed: Iterable[str],
                 group_members: Callable[[str], frozenset[str]] | None = None) -> None:
        ids = frozenset(allowed)
        self.users = frozenset(i for i in ids if not i.startswith("S"))
        self.groups = frozenset(i for i in ids if i.startswith("S"))
        self._members = group_members or (lambda _group: frozenset())

    @property
    def enabled(self) -> bool:
        """Cancel buttons are shown only when someone may press them."""
        return bool(self.users or self.groups)

    def allows(self, user_id: str) -> bool:
        if user_id in self.users:
            return True
        return any(user_id in self._members(group) for group in sorted(self.groups))

    def who(self) -> str:
        """The allowed people and groups as mentions, for a refusal."""
        return ", ".join([*(f"<@{u}>" for u in sorted(self.users)),
                          *(f"<!subteam^{g}>" for g in sorted(self.groups))])


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


_current = CancelPolicy(())


def install(policy: CancelPolicy) -> None:
    """Make ``policy`` the one views and the router use (entry points, once)."""
    global _current
    _current = policy


def current() -> CancelPolicy:
    return _current
