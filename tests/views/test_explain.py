"""Why a job ended, in Block Kit (bot/views/explain.py) and on the status card: code
spans for ids and codes, upstream text escaped, nothing when nothing is known."""

from __future__ import annotations

from bot.domain.explain import Reason
from bot.domain.reply import Reply
from bot.metastudio.models import AssetRole
from bot.views.cards import job_card, status_reply
from bot.views.explain import (
    LINE_LIMIT,
    explanation_block,
    explanation_lines,
    explanation_text,
)
from bot.views.text import render_text
from tests.views.jobs import BERLIN, BLOCKED, FAILED, assert_within_slack_limits, job, texts

FROZEN = Reason("asset_state", AssetRole.MODEL, "sim-model-dora", "Dora", "BLOCK",
                code="PORTRAIT_RIGHTS")
REVIEW = Reason("review_failed", AssetRole.VOICE, "v-1", "<!channel> voice", "FAILED",
                detail="noise & <@U1>", fail_type="MANUAL_REVIEW_REJECT")
SAID = Reason("job", code="MSS.B", detail="Reported")


def test_lines_use_code_spans_and_escape_upstream_text() -> None:
    assert explanation_lines([FROZEN, REVIEW, SAID]) == [
        "• Model asset Dora (`sim-model-dora`) is frozen (BLOCK), block reason "
        "`PORTRAIT_RIGHTS`",
        "• Voice asset &lt;!channel&gt; voice (`v-1`) failed manual review: "
        "noise &amp; &lt;@U1&gt;",
        "• MetaStudio says: `MSS.B` Reported",
    ]


def test_a_long_review_comment_is_cut() -> None:
    long = Reason("review_failed", AssetRole.VOICE, "v-1", detail="x" * 5000)

    [line] = explanation_lines([long])

    assert len(line) <= LINE_LIMIT and line.endswith("…")


def test_nothing_known_renders_nothing() -> None:
    assert explanation_lines([]) == [] and explanation_text([]) is None
    assert explanation_block([]) is None


def test_the_block_for_announcements() -> None:
    block = explanation_block([FROZEN])

    assert block is not None
    assert block.to_dict()["text"]["text"].startswith("*Why:*\n• Model asset Dora")


def test_a_failed_card_explains_under_its_error() -> None:
    reply = Reply(text="card", blocks=job_card(job(FAILED), BERLIN, explanation=[FROZEN]))

    text = reply.blocks[0].to_dict()["text"]["text"].splitlines()
    error = next(i for i, line in enumerate(text) if line.startswith("*Error:*"))
    assert text[error + 1:error + 3] == [
        "*Why:*", "• Model asset Dora (`sim-model-dora`) is frozen (BLOCK), block reason "
                  "`PORTRAIT_RIGHTS`"]


def test_a_card_without_an_explanation_is_as_it_was() -> None:
    plain = job_card(job(BLOCKED), BERLIN)
    assert [b.to_dict() for b in job_card(job(BLOCKED), BERLIN, explanation=())] == [
        b.to_dict() for b in plain]
    assert "Why" not in render_text(Reply(text="", blocks=plain))


def test_status_explains_the_cards_it_has_reasons_for() -> None:
    jobs = [job(FAILED), job(BLOCKED)]

    reply = status_reply(jobs, [], BERLIN, post_value=None,
                         explanations={"job-blocked": [SAID, REVIEW]})

    shown = render_text(reply)
    assert shown.count("Why:") == 1 and "MetaStudio says: `MSS.B` Reported" in shown
    assert all("<!channel>" not in text for text in texts(reply))
    assert_within_slack_limits(reply)
