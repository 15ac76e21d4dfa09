"""The words users type for states and job types, written once: the parser reads them,
and listing titles and metrics labels speak them back."""

from __future__ import annotations

from ..metastudio.models import JobState
from ..metastudio.query import QueryJobType

#: Every word a user may type for a state (API names are accepted too, by the parser).
STATE_WORDS: dict[str, JobState] = {
    "waiting": JobState.WAITING,
    "processing": JobState.PROCESSING,
    "succeeded": JobState.SUCCEED,
    "succeed": JobState.SUCCEED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELED,
    "cancelled": JobState.CANCELED,
    "blocked": JobState.BLOCK,
    "block": JobState.BLOCK,
}
#: The state commands (``/videojobs failed``), one word per state, in help order.
STATE_COMMANDS = ("failed", "waiting", "processing", "succeeded", "canceled", "blocked")
TYPE_WORDS: dict[str, QueryJobType] = {
    "2d": QueryJobType.VIDEO_2D,
    "photo": QueryJobType.PHOTO,
    "2d_digital_human_video": QueryJobType.VIDEO_2D,
    "photo_digital_human_video": QueryJobType.PHOTO,
}


def state_word(state: JobState) -> str:
    """The state's command word: ``JobState.SUCCEED`` -> ``succeeded``."""
    return next(w for w in STATE_COMMANDS if STATE_WORDS[w] is state)
