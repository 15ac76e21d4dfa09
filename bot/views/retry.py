"""Retry's answers (docs/oncall.md, "Retry"): the confirmation that says what will be
re-created, what cannot be carried over and the video minutes it spends against what is
left, and the lines that say how the retry went. Pure: values in, Block Kit out."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from ..domain.recreate import MinutesEstimate, Recreation
from ..domain.reply import Reply
from ..metastudio.models import Job
from ..metastudio.operations import Resource
from . import actions
from .blocks import actions_block, button, context, pack_lines, section
from .format import code, escape, job_type_label

#: The package a job type's minutes are counted against (ListResourcesUsage).
_PACKAGE = {False: "VIDEO_2D", True: "PICTURE_2D"}
#: Lines of "not carried over" shown before "and N more".
MAX_OMISSIONS = 8


def minutes_line(estimate: MinutesEstimate, resources: Sequence[Resource] | None, *,
                 photo: bool) -> str:
    """``It spends about 2 video minutes (118 min left of 500).`` What is left comes
    from ``quota``'s figures; None: they could not be read."""
    whole = estimate.whole_minutes
    basis = {"duration": "the original's length", "script": "its script"}.get(estimate.basis)
    spend = (f"It spends about *{whole} video minute{'s' * (whole != 1)}* "
             f"(from {basis})" if whole is not None and basis
             else "How many video minutes it spends is not known (no length, no text script)")
    package = next((r for r in resources or () if r.business_type == _PACKAGE[photo]), None)
    if resources is None:
        left = "; the minutes left could not be read"
    elif package is None or package.left is None:
        left = "; MetaStudio lists no package for this type"
    else:
        left = f"; {package.left:,.0f} min left of {package.amount or 0:,.0f}"
        if whole is not None and package.left < whole:
            left += ". ⚠️ Not enough minutes left: MetaStudio will fail the job"
    return f"{spend}{left}."


def retry_prompt(job: Job, plan: Recreation, estimate: MinutesEstimate,
                 resources: Sequence[Resource] | None, *, confirm_value: str,
                 unchecked: int = 0) -> Reply:
    """Ask before spending: the new job's type, script and assets, its output name,
    what the original had that it will not, what may not work, and the minutes."""
    body = plan.body
    voice = (body.get("voice_config") or {}).get("voice_asset_id")
    parts = [f"*Retry {code(job.job_id)}?* A new {escape(job_type_label(job.job_type))} "
             f"job is created from its settings, named *{escape(plan.asset_name)}*."]
    uses = [f"script {code(body['script_id'])}" if body.get("script_id") else None,
            f"model {code(body['model_asset_id'])}" if body.get("model_asset_id") else None,
            f"voice {code(voice)}" if voice else None,
            f"{len(body.get('shoot_scripts') or [])} shoot script(s)"
            if body.get("shoot_scripts") else None]
    used = [u for u in uses if u]
    if used:
        parts.append("Uses " + ", ".join(used) + ".")
    parts.append(minutes_line(estimate, resources, photo=plan.photo))
    lines = [f"• {escape(str(o))}" for o in plan.not_carried[:MAX_OMISSIONS]]
    if len(plan.not_carried) > MAX_OMISSIONS:
        lines.append(f"• and {len(plan.not_carried) - MAX_OMISSIONS} more")
    blocks: list[Block] = [section("\n".join(parts))]
    if lines:
        blocks += [section(text) for text in pack_lines(["*Not carried over:*", *lines])]
    if plan.caveats:
        blocks += [section(text) for text in pack_lines(
            ["*May not work:*", *(f"• {escape(c)}" for c in plan.caveats)])]
    if unchecked:
        blocks.append(context(f"{unchecked} asset(s) are not in the library's summaries "
                              "(system assets are not); MetaStudio checks them itself."))
    blocks += actions_block([
        button("Retry now", actions.RETRY_CONFIRM, confirm_value, style="primary"),
        button("Don't retry", actions.RETRY_DISMISS, job.job_id),
    ])
    blocks.append(context("The new job is tracked in this job's thread. Retry is sent "
                          "once: pressing again, or two people at once, creates one job."))
    text = f"Retry {job.job_id}? It creates a new job and spends video minutes."
    return Reply(text=text, blocks=blocks)


def retried_line(user_id: str, job_id: str, new_job_id: str, *, found: bool = False) -> str:
    """What the person and the thread are told once the new job exists."""
    how = "found the job an earlier press made:" if found else "created"
    return f"🔁 <@{user_id}> retried {code(job_id)}: {how} {code(new_job_id)}."


def already_line(job_id: str, new_job_id: str, user_id: str) -> str:
    return (f"{code(job_id)} was already retried by <@{user_id}> as {code(new_job_id)}; "
            "nothing new was created. Retry that job if it failed too.")


def in_doubt_line(job_id: str, request_id: str | None) -> str:
    ref = f" (request id {code(request_id)})" if request_id else ""
    return (f"⚠️ MetaStudio did not answer the create for {code(job_id)} in time{ref}, "
            "and no new job shows yet: it may still appear. Press Retry again in a minute: "
            "I look for it first and create one only if it is not there.")


def line_reply(mrkdwn: str, *, replace: bool = False) -> Reply:
    reply = Reply(text=mrkdwn, blocks=[section(mrkdwn)])
    reply.replace_original = replace
    return reply
