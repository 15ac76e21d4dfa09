"""docs/events.md documents exactly the fields the bot's job events carry: a field added
to the payload without a line in the table (or a line left for a field gone) fails."""

from __future__ import annotations

import re
from pathlib import Path

from bot.domain.job_events import JOB_ENDED, JOBS_ENDED, MARKER_EVENT, JobEnded, JobsEnded

DOC = (Path(__file__).parents[1] / "docs" / "events.md").read_text()


def _table(heading: str) -> dict[str, tuple[str, str]]:
    """field -> (type, always there) from the table under ``## `heading```."""
    section = DOC.split(f"## `{heading}`", 1)[1].split("\n## ", 1)[0]
    return {m[1]: (m[2], m[3]) for m in re.finditer(
        r"^\| `([a-z_]+)` \| ([a-z]+) \| (yes|no) \|", section, re.MULTILINE)}


def test_the_job_ended_table_is_the_payload() -> None:
    documented = _table(JOB_ENDED)
    fields = JobEnded.model_fields
    assert set(documented) == set(fields)
    for name, (kind, always) in documented.items():
        assert (always == "yes") == fields[name].is_required(), name
        annotation = str(fields[name].annotation)
        assert {"string": "str", "number": "float"}[kind] in annotation or (
            kind == "string" and "Literal" in annotation), name


def test_every_event_type_is_documented() -> None:
    for event_type in (JOB_ENDED, JOBS_ENDED, MARKER_EVENT):
        assert f"## `{event_type}`" in DOC
    assert set(JobsEnded.model_fields) == {"jobs", "videojobs_key"}
    assert "`jobs`" not in _table(JOB_ENDED)
