"""Why a job ended FAILED, BLOCK or CANCELED, as far as its assets and MetaStudio say:
a few :class:`Reason` values from the job, its detail (the assets it uses) and what the
asset library says of them. Pure: the look-ups are
:func:`bot.metastudio.evidence.gather`'s, the wording is :meth:`Reason.sentence`'s, the
Block Kit is :mod:`bot.views.explain`'s.

What counts as a reason:

- an asset the job uses that is not ACTIVED (the only state a video job may use): frozen
  (BLOCK, with its ``block_reason_code``), failed, deleted, not active yet;
- a file of such an asset rejected in review (its ``reason``, automatic or manual per
  ``fail_type``) or frozen;
- the output video frozen or rejected (its plain FAILED or CREATING state follows from
  the job's end, so says nothing);
- for BLOCK and CANCELED jobs, what MetaStudio gave as the reason (``error_info``, or a
  ``block_reason``); a failure's ``error_info`` is already the card's error line.

An asset the summary does not return says nothing either way (a system voice or model
may not be listed), so nothing is guessed: no reason known, no lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..metastudio.api import DetailsAPI
from ..metastudio.assets import Asset, AssetLookup, AssetState, AssetSummary, FileState
from ..metastudio.evidence import gather
from ..metastudio.models import (
    AssetRef,
    AssetRole,
    Job,
    JobDetail,
    JobState,
    asset_refs_of,
    end_reason,
)

#: The end states worth explaining.
EXPLAINED = frozenset({JobState.FAILED, JobState.BLOCK, JobState.CANCELED})
#: A card or announcement says a few things, not everything.
MAX_REASONS = 4

ROLE_WORDS: dict[AssetRole, str] = {
    AssetRole.MODEL: "Model asset",
    AssetRole.VOICE: "Voice asset",
    AssetRole.MUSIC: "Background music asset",
    AssetRole.BACKGROUND: "Background asset",
    AssetRole.LAYER: "Layer asset",
    AssetRole.OUTPUT: "Output asset",
}
_REVIEWS = {"AUTOMATIC_REVIEW_REJECT": "automatic review",
            "MANUAL_REVIEW_REJECT": "manual review"}
_STATE_WORDS: dict[str, str] = {
    AssetState.BLOCK: "is frozen (BLOCK)",
    AssetState.FAILED: "failed (FAILED)",
    AssetState.DELETED: "was deleted (DELETED)",
    AssetState.DELETING: "is being deleted (DELETING)",
    AssetState.WAITING_DELETE: "is due to be taken offline (WAITING_DELETE)",
    AssetState.UNACTIVED: "is not active (UNACTIVED)",
    AssetState.CREATING: "is still being created (CREATING)",
}

Kind = Literal["asset_state", "review_failed", "file_blocked", "job"]


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Reason:
    """One thing known about why a job ended: an asset's state, a file's review or
    freeze, or MetaStudio's own word on the job (``kind`` ``job``)."""

    kind: Kind
    role: AssetRole | None = None
    asset_id: str | None = None
    asset_name: str | None = None
    #: The asset's state as MetaStudio spelled it.
    state: str | None = None
    #: ``block_reason_code``, or the job's ``error_code``.
    code: str | None = None
    #: Free text: the review's or the freeze's ``reason``, or the job's ``error_msg``.
    detail: str | None = None
    #: AUTOMATIC_REVIEW_REJECT or MANUAL_REVIEW_REJECT.
    fail_type: str | None = None

    def sentence(self, *, ident: Callable[[str], str] = _same,
                 text: Callable[[str], str] = _same) -> str:
        """One short line. ``ident`` formats ids and codes, ``text`` free text (a view
        passes code spans and mrkdwn escaping; plain text by default)."""
        if self.kind == "job":
            said = " ".join(p for p in (self.code and ident(self.code),
                                        self.detail and text(self.detail)) if p)
            return f"MetaStudio says: {said}"
        subject = self._subject(ident, text)
        if self.kind == "review_failed":
            review = _REVIEWS.get(self.fail_type or "", "review")
            line = f"{subject} failed {review}"
            return f"{line}: {text(self.detail)}" if self.detail else line
        if self.kind == "file_blocked":
            line = f"{subject} has a frozen file"
            return f"{line} (block reason {ident(self.code)})" if self.code else line
        words = _STATE_WORDS.get(self.state or "", f"is {text(self.state or 'UNKNOWN')}")
        line = f"{subject} {words}"
        if self.code:
            line += f", block reason {ident(self.code)}"
        return f"{line}: {text(self.detail)}" if self.detail else line

    def _subject(self, ident: Callable[[str], str], text: Callable[[str], str]) -> str:
        role = ROLE_WORDS.get(self.role, "Asset") if self.role else "Asset"
        shown = ident(self.asset_id or "?")
        return f"{role} {text(self.asset_name)} ({shown})" if self.asset_name else (
            f"{role} {shown}")


def explain(job: Job, detail: JobDetail | None, summaries: Mapping[str, AssetSummary],
            assets: Mapping[str, Asset] | None = None, *,
            limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    """What is known of why ``job`` ended FAILED, BLOCK or CANCELED, at most ``limit``
    reasons (MetaStudio's own word first, then the assets in the order the job names
    them); empty for any other state or when nothing is known.

    ``detail`` is the job's detail (``show_script=true``; None: only the output asset
    of ``job`` is known), ``summaries`` the asset summaries of the assets it names,
    ``assets`` the full look-ups of some of them (``show_asset``: the files' review)."""
    if job.state not in EXPLAINED:
        return ()
    full = assets or {}
    reasons: list[Reason] = []
    said = end_reason(detail or job)
    if job.state != JobState.FAILED and said is not None:
        reasons.append(Reason("job", code=said.error_code, detail=said.error_msg))
    for ref in asset_refs_of(job, detail):
        reasons.extend(_asset_reasons(ref, summaries.get(ref.asset_id), full.get(ref.asset_id)))
    return tuple(reasons[: max(0, limit)])


def asset_problems(refs: tuple[AssetRef, ...] | list[AssetRef],
                   summaries: Mapping[str, AssetSummary]) -> tuple[Reason, ...]:
    """The input assets among ``refs`` whose summary says they are not ACTIVED (the
    output is left out: a new job makes a new one). Ids the summary lacks are no
    problem here; see :func:`bot.domain.recreate.check_assets`."""
    problems = []
    for ref in refs:
        summary = summaries.get(ref.asset_id)
        if ref.role is AssetRole.OUTPUT or summary is None or summary.asset_state is None:
            continue
        if not summary.usable:
            problems.append(_state_reason(ref, summary.asset_name, str(summary.asset_state),
                                          summary.block_reason_code, None))
    return tuple(problems)


def _asset_reasons(ref: AssetRef, summary: AssetSummary | None,
                   asset: Asset | None) -> list[Reason]:
    name = (asset.asset_name if asset else None) or (summary.asset_name if summary else None)
    state = (asset.asset_state if asset else None) or (summary.asset_state if summary else None)
    code = (asset.block_reason_code if asset else None) or (
        summary.block_reason_code if summary else None)
    reasons: list[Reason] = []
    if asset is not None:
        for file in asset.rejected_files:
            if file.state == FileState.FAILED:
                reasons.append(Reason("review_failed", ref.role, ref.asset_id, name, str(state),
                                      detail=file.reason or asset.reason,
                                      fail_type=file.fail_type or asset.fail_type))
            else:
                reasons.append(Reason("file_blocked", ref.role, ref.asset_id, name, str(state),
                                      code=file.block_reason_code))
        if not reasons and asset.fail_type and state != AssetState.ACTIVED:
            reasons.append(Reason("review_failed", ref.role, ref.asset_id, name, str(state),
                                  detail=asset.reason, fail_type=asset.fail_type))
    if reasons or state is None or state == AssetState.ACTIVED:
        return reasons
    if ref.role is AssetRole.OUTPUT and state != AssetState.BLOCK:
        return []  # a failed job's output failing too says nothing new
    return [_state_reason(ref, name, str(state), code, asset.reason if asset else None)]


def _state_reason(ref: AssetRef, name: str | None, state: str, code: str | None,
                  detail: str | None) -> Reason:
    return Reason("asset_state", ref.role, ref.asset_id, name, state, code=code, detail=detail)


def explain_ended(jobs: Sequence[Job], details: DetailsAPI, library: AssetLookup, *,
                  refresh: bool = False) -> dict[str, tuple[Reason, ...]]:
    """Why each failed, blocked or canceled job among ``jobs`` ended (job id -> reasons,
    jobs with nothing to say left out), from one look-up of their details and assets
    (:func:`bot.metastudio.evidence.gather`). Nothing to explain costs no request; a
    failed look-up raises :class:`~bot.metastudio.errors.MetaStudioError`."""
    ended = [job for job in jobs if job.state in EXPLAINED and job.job_id]
    if not ended:
        return {}
    found = gather(ended, details, library, refresh=refresh)
    explained = {}
    for job in ended:
        evidence = found.get(job.job_id)
        if evidence is None:
            continue
        reasons = explain(job, evidence.detail, evidence.summaries, evidence.assets)
        if reasons:
            explained[job.job_id] = reasons
    return explained
