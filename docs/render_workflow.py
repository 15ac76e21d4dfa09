"""Render a Workflow Builder workflow that uses the bot's custom steps into
``docs/workflow.png`` (for the README and docs/surfaces.md).

A dev tool, run by hand: ``.venv/bin/python docs/render_workflow.py``. The steps' titles,
inputs and outputs are manifest.yaml's; the messages the workflow posts are filled with
real step outputs: :class:`~bot.commands.steps.StepRunner` runs "Wait for video job to
end" and "List failed video jobs" against the MetaStudio simulator, as the bot does for
Slack. Drawn and screenshotted like docs/messages.png (docs/render_messages.py, whose
HTML helpers and headless Chromium this reuses); the clock is frozen, so the picture is
reproducible.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import render_messages as rm  # docs/render_messages.py: its page, CSS and Chromium

from bot.commands.router import Router
from bot.commands.steps import Execution, StepRunner
from bot.commands.types import Context
from bot.domain.steps import LIST_FAILED, WAIT_FOR_JOB
from bot.metastudio.auth import TokenAuth
from bot.metastudio.cache import CachedJobsClient
from bot.metastudio.client import MetaStudioClient
from bot.simulator import SimClock, Simulator

OUT = Path(__file__).with_name("workflow.png")
ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = yaml.safe_load((ROOT / "manifest.yaml").read_text())["functions"]


def outputs(sim: Simulator, ids: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the two steps output for the failed job and today's failures."""
    client = CachedJobsClient(MetaStudioClient(sim.url, sim.project_id, TokenAuth("demo")),
                              wall_clock=sim.clock)
    steps = StepRunner(Router(client, clock=sim.clock))
    ctx = Context(rm.USER, "", rm.TZ)
    waited = steps.run(WAIT_FOR_JOB, Execution("Fx1", "", {"job_id": ids["failed"]}), ctx)
    listed = steps.run(LIST_FAILED, Execution("Fx2", "", {"window": "today"}), ctx)
    assert waited.outputs is not None and listed.outputs is not None
    return waited.outputs, listed.outputs


# -- the workflow, as Workflow Builder shows it -------------------------------------------

def var(name: str) -> str:
    return f'<span class="var">{html.escape(name)}</span>'


def step(number: str, title: str, app: str, rows: list[tuple[str, str]],
         note: str = "") -> str:
    fields = "".join(f'<div class="in"><span class="label">{html.escape(k)}</span>{v}</div>'
                     for k, v in rows)
    badge = f'<span class="app-badge">{html.escape(app)}</span>' if app else ""
    extra = f'<div class="note2">{note}</div>' if note else ""
    return (f'<div class="step"><div class="num">{number}</div><div class="card">'
            f'<div class="title">{html.escape(title)}{badge}</div>{fields}{extra}</div></div>')


def title_of(callback_id: str, section: str, name: str) -> str:
    return str(FUNCTIONS[callback_id][section][name]["title"])


def workflow() -> str:
    wait_in = lambda n: title_of(WAIT_FOR_JOB, "input_parameters", n)  # noqa: E731
    wait_out = lambda n: title_of(WAIT_FOR_JOB, "output_parameters", n)  # noqa: E731
    list_in = lambda n: title_of(LIST_FAILED, "input_parameters", n)  # noqa: E731
    list_out = lambda n: title_of(LIST_FAILED, "output_parameters", n)  # noqa: E731
    steps = [
        step("▶", "Starts from a link in Slack", "",
             [("Form", "Which job? " + var("Job ID (text)"))]),
        step("1", FUNCTIONS[WAIT_FOR_JOB]["title"], "videojobs",
             [(wait_in("job_id"), var("Answer to: Which job?")),
              (wait_in("max_wait_minutes"), "14")],
             "Outputs: " + ", ".join(var(wait_out(n)) for n in
                                     ("outcome", "state", "asset_name", "error_code",
                                      "cover_url", "duration"))),
        step("◇", "Branch: if " + FUNCTIONS[WAIT_FOR_JOB]["output_parameters"]["outcome"]
             ["title"] + " is failed", "", []),
        step("2", FUNCTIONS[LIST_FAILED]["title"], "videojobs",
             [(list_in("window"), "today"),
              (list_in("user"), var("Person who used this workflow"))],
             "Outputs: " + ", ".join(var(list_out(n)) for n in
                                     ("count", "error_summary", "formatted_list"))),
        step("3", "Send a message to #video-ops", "Slack",
             [("Message", f"❌ {var(wait_out('asset_name'))} {var(wait_out('outcome'))}: "
                          f"{var(wait_out('error_code'))} {var(wait_out('error_message'))}"
                          f"<br>{var(list_out('formatted_list'))}")]),
        step("◇", "Otherwise", "", []),
        step("4", "Send a message to #video-ops", "Slack",
             [("Message", f"✅ {var(wait_out('asset_name'))} is ready "
                          f"({var(wait_out('duration'))} s of video): "
                          f"{var(wait_out('cover_url'))}")]),
    ]
    return f'<div class="flow">{"".join(steps)}</div>'


def posted(waited: dict[str, Any], listed: dict[str, Any]) -> dict[str, Any]:
    """The message step 3 posts, with the real outputs in place of the variables."""
    text = (f"❌ {waited['asset_name']} {waited['outcome']}: {waited['error_code']} "
            f"{waited.get('error_message', '')}\n{listed['formatted_list']}")
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": text}}]
    return {"blocks": blocks}


def page(waited: dict[str, Any], listed: dict[str, Any]) -> str:
    time = rm.NOW.astimezone(rm.TZ).strftime("%H:%M")
    panels = [
        '<section class="panel"><div class="cap"><b>Workflow Builder</b>'
        '<code>Render failed? Triage it</code></div>' + workflow() + "</section>",
        '<section class="panel"><div class="cap"><b>#video-ops</b>'
        '<code>what step 3 posted (the steps\' real outputs)</code></div>'
        + rm.message(posted(waited, listed), time).replace(
            "videojobs<span", "Render failed? Triage it<span") + "</section>",
    ]
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{rm.CSS}{CSS}</style>
</head><body>{"".join(panels)}<script>document.body.dataset.h =
document.documentElement.scrollHeight</script></body></html>"""


CSS = """
.flow { padding: 14px 20px 8px; }
.step { display: flex; gap: 12px; margin-bottom: 10px; }
.num { flex: 0 0 28px; height: 28px; border-radius: 14px; background: #4a154b; color: #fff;
  font: 900 13px/28px Lato, sans-serif; text-align: center; }
.card { flex: 1; border: 1px solid #dddddd; border-radius: 8px; padding: 8px 12px;
  background: #fafafa; }
.title { font-weight: 900; }
.app-badge { font-size: 11px; font-weight: 700; color: #1264a3; margin-left: 8px;
  border: 1px solid #1264a3; border-radius: 3px; padding: 0 4px; }
.in { margin-top: 4px; font-size: 14px; }
.label { display: inline-block; min-width: 190px; color: #616061; }
.var { background: #e8f5fa; color: #1264a3; border-radius: 4px; padding: 0 4px;
  font-size: 13px; font-weight: 700; }
.note2 { margin-top: 6px; font-size: 12px; color: #616061; }
"""


def main() -> None:
    sim = Simulator(project_id="demo-project", clock=SimClock.frozen(rm.NOW))
    ids = rm.add_jobs(sim)
    server = sim.serve()
    try:
        waited, listed = outputs(sim, ids)
        with tempfile.TemporaryDirectory() as tmp:
            page_file = Path(tmp, "workflow.html")
            page_file.write_text(page(waited, listed), encoding="utf-8")
            url = page_file.as_uri()
            dom = rm.chromium(f"--window-size={rm.WIDTH},1000", "--dump-dom", url)
            height = int(re.search(r'data-h="(\d+)"', dom).group(1))  # type: ignore[union-attr]
            rm.chromium(f"--window-size={rm.WIDTH},{height}", f"--screenshot={OUT}", url)
            if os.environ.get("KEEP_HTML"):
                shutil.copy(page_file, OUT.with_suffix(".html"))
    finally:
        server.stop()
    print(f"{OUT} ({OUT.stat().st_size // 1024} KB, {rm.WIDTH}x{height})")


if __name__ == "__main__":
    main()
