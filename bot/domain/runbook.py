"""The runbook: for a failed job's error code, the next step and a link. Built-in hints
(``bot/domain/runbook.yaml``) cover the documented ``MSS.*`` codes and the common gateway
codes; ``RUNBOOK_FILE`` (the same YAML shape: code -> hint and link) adds codes and
overrides the built-in ones entry by entry.

The composition root loads the configured one once (:func:`load`) and hands it to
whoever draws failures (router, sender, report renderer); views take it as an argument.
:data:`DEFAULT` is the built-in runbook alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BUILT_IN = Path(__file__).with_name("runbook.yaml")
#: Room a hint gets: one line of a Slack message.
MAX_HINT = 300


class RunbookError(ValueError):
    """The runbook file is unreadable or not code -> {hint, link}; says where."""


@dataclass(frozen=True)
class Entry:
    hint: str
    link: str | None = None


class Runbook:
    def __init__(self, entries: dict[str, Entry]) -> None:
        self.entries = entries

    def get(self, error_code: str | None) -> Entry | None:
        """The entry for ``error_code`` (exact, else case-insensitive), or None."""
        if not error_code:
            return None
        found = self.entries.get(error_code)
        if found is None:
            found = self.entries.get(error_code.upper())
        return found

    def __len__(self) -> int:
        return len(self.entries)


def load(path: Path | str | None = None) -> Runbook:
    """The built-in runbook, with ``path``'s entries on top of it."""
    entries = _read(BUILT_IN)
    if path:
        entries.update(_read(Path(path)))
    return Runbook(entries)


def _read(path: Path) -> dict[str, Entry]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise RunbookError(f"{path}: cannot read the runbook ({e.__class__.__name__}: {e})") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunbookError(f"{path}: expected error codes mapped to {{hint, link}}")
    entries = {}
    for code, value in data.items():
        if isinstance(value, str):
            value = {"hint": value}
        if not isinstance(value, dict) or not isinstance(value.get("hint"), str):
            raise RunbookError(f"{path}: `{code}` needs a `hint` (text)")
        link = value.get("link")
        if link is not None and not (isinstance(link, str)
                                     and link.startswith(("https://", "http://"))):
            raise RunbookError(f"{path}: `{code}`: `link` must be an http(s) URL")
        entries[str(code).upper()] = Entry(hint=value["hint"].strip()[:MAX_HINT], link=link)
    return entries


#: The built-in hints alone (no RUNBOOK_FILE).
DEFAULT = load()
