"""The runbook: built-in hints for the documented codes, a RUNBOOK_FILE over them, and
one clear line for a file that is not what it should be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.domain import runbook
from bot.settings import Settings
from bot.views.hints import next_step


@pytest.fixture(autouse=True)
def _restore_runbook():
    yield
    runbook.install(runbook.load())


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
    runbook.install(runbook.load(path))
    assert next_step("X.1") == ("*Next step:* Tell &lt;!channel&gt; &amp; retry "
                                "<https://w.example/a%7Cb|More>")
    assert next_step("unknown") is None


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
