"""``quota``: video minutes used and left per business type, and the warning line
``summary`` and failure digests carry when a package runs low."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock

from ..domain.reply import Reply
from ..metastudio.operations import Resource
from .blocks import context, pack_lines, section
from .format import escape

_NAMES = {"VIDEO_2D": "2D avatar video", "PICTURE_2D": "Photo avatar video"}


def _amount(value: float | None, unit: str | None) -> str:
    if value is None:
        return "?"
    number = f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{number} {'min' if (unit or 'MIN').upper() == 'MIN' else escape(unit or '')}"


def resource_line(resource: Resource) -> str:
    name = _NAMES.get(resource.business_type, escape(resource.business_type))
    share = resource.left_share
    left = _amount(resource.left, resource.unit)
    used = _amount(resource.usage, resource.unit)
    total = _amount(resource.amount, resource.unit)
    percent = f" ({share:.0%} left)" if share is not None else ""
    return f"*{name}*: {left} left{percent} · {used} of {total} used"


def low(resources: list[Resource], warn_percent: float) -> list[Resource]:
    """Packages whose share left is under ``warn_percent``."""
    return [r for r in resources
            if r.left_share is not None and r.left_share * 100 < warn_percent]


def warning_line(resources: list[Resource], warn_percent: float) -> str | None:
    """``⚠️ Video minutes running low: Photo avatar video 9 min left (3%)``, or None."""
    running_low = low(resources, warn_percent)
    if not running_low:
        return None
    parts = [f"{_NAMES.get(r.business_type, escape(r.business_type))} "
             f"{_amount(r.left, r.unit)} left ({(r.left_share or 0):.0%})" for r in running_low]
    return (f"⚠️ Video minutes running low (under {warn_percent:g}%): " + "; ".join(parts)
            + ". Jobs fail once a package is used up.")


def quota_reply(resources: list[Resource], warn_percent: float) -> Reply:
    blocks: list[Block] = [HeaderBlock(text="⏱️ Video minutes")]
    if not resources:
        blocks.append(section("MetaStudio lists no video-minute packages for this tenant."))
        return Reply(text="No video-minute packages.", blocks=blocks)
    lines = [resource_line(r) for r in resources]
    blocks += [section(text) for text in pack_lines(lines)]
    warning = warning_line(resources, warn_percent)
    if warning:
        blocks.append(section(warning))
    blocks.append(context(f"Warnings under {warn_percent:g}% left (`QUOTA_WARN_PERCENT`)."))
    return Reply(text="Video minutes: " + "; ".join(lines), blocks=blocks)
