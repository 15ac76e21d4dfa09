"""The runbook: built-in hints for the documented codes, a RUNBOOK_FILE over them, and
one clear line for a file that is not what it should be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.domain import runbook
from bot.settings import Settings
from bot.views.hints import next_step


@pytest.mark.parametrize("code", ["MSS.00000001", "MSS.00000002", "MSS.00000003",
                                  "MSS.00000004", "MSS.10001001", "MSS.10001005",
                                  "MSS.10001006", "MSS.10000003", "APIGW.0308"])
def test_documented_and_simulated_codes_have_a_built_in_hint(code):
    assert runbook.load().get(code) is not None


def test_a_file_overrides_and_extends_the_built_in_hints(tmp_path: Path):
    path = tmp_path / "runbook.yaml"
    path.write_text("MSS.00000004:\n  hint: Page the render team.\n"
                    "  link: https://wiki.example.com/render\n"
                    "acme.42: Restart the uploader.\n")
    book = runbook.load(path)
    assert book.get("MSS.00000004") == runbook.Entry("Page the render team.",
                                                     "https://wiki.example.com/render")
    assert book.get("ACME.42").hint == "Restart the uploader."  # codes match any case
    assert book.get("MSS.10001001") == runbook.load().get("MSS.10001001")
    assert book.get("NOPE") is None and book.get(None) is None


def test_hints_are_escaped_and_linked(tmp_path: Path):
    path = tmp_path / "runbook.yaml"
    path.write_text("X.1:\n  hint: Tell <!channel> & retry\n  link: https://w.example/a|b\n")
    book = runbook.load(path)
    assert next_step("X.1", book) == ("*Next step:* Tell &lt;!channel&gt; &amp; retry "
                                      "<https://w.example/a%7Cb|More>")
    assert next_step("unknown", book) is None
    assert next_step("X.1") is None  # the built-in runbook alone does not know it


@pytest.mark.parametrize(("text", "says"), [
    ("- a list\n", "expected error codes"),
    ("X.1:\n  link: https://a.example\n", "`X.1` needs a `hint`"),
    ("X.1:\n  hint: h\n  link: javascript:alert(1)\n", "must be an http(s) URL"),
    ("X.1: [unclosed\n", "cannot read the runbook"),
])
def test_a_bad_runbook_file_stops_start_up_with_one_line(tmp_path: Path, text, says):
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    with pytest.raises(runbook.RunbookError, match=r"runbook\.yaml"):
        runbook.load(path)
    with pytest.raises(ValueError, match=re.escape(says)):
        Settings(runbook_file=str(path))


def test_a_missing_runbook_file_is_named():
    with pytest.raises(ValueError, match=r"nowhere\.yaml"):
        Settings(runbook_file="/nowhere.yaml")


@pytest.fixture
def bot_settings(bot_settings, tmp_path: Path):
    """The app with a RUNBOOK_FILE that knows one code of its own."""
    path = tmp_path / "runbook.yaml"
    path.write_text("ACME.7:\n  hint: Restart the acme uploader.\n")
    return bot_settings.model_copy(update={"runbook_file": str(path)})


def test_the_configured_runbook_reaches_every_place_a_failure_is_shown(
        slack, simulator, services) -> None:
    """RUNBOOK_FILE is passed to the router, the sender and its digests, never set
    process-wide: each surface that explains a failure shows the file's hint."""
    hint = "Restart the acme uploader."
    failed = simulator.add_job(state="FAILED", error_code="ACME.7", error_msg="uploader down")
    slack.command(f"status {failed}")
    [card] = slack.answers()
    assert hint in str(card["blocks"])
    slack.command("failed today", response="r2")
    [listing] = slack.answers("r2")
    assert hint in str(listing["blocks"])  # the triage block's next step

    # A tracked job that fails: the thread reply carries the hint too.
    running = simulator.add_job(state="PROCESSING")
    slack.command(f"track {running}", response="r3")
    slack.answers("r3")
    simulator.set_state(running, "FAILED", error_code="ACME.7", error_msg="uploader down")
    services.tracking.run_once()
    tracking = slack.fake.posts("C1")[0]  # the tracking message; the failure is broadcast
    assert any(hint in str(reply.blocks) for reply in slack.fake.thread("C1", tracking.ts))
