"""Who may press Cancel: the Slack user IDs and user group IDs of ``CANCEL_ALLOWED``.
Group membership is asked of ``group_members`` (:class:`bot.slack.usergroups.GroupMembers`
in Slack modes).

The composition root builds the policy once and hands it to the router (who may press)
and to tracking (whether tracking messages show Cancel at all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


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
