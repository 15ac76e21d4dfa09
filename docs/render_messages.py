"""Render what the bot's Slack messages look like into ``docs/messages.png`` (for the README).

A dev tool, run by hand: ``.venv/bin/python docs/render_messages.py``. Everything shown is
real bot output: the MetaStudio simulator serves a few jobs (and their cover PNGs) on
loopback, the real client and :class:`~bot.commands.router.Router` answer the commands, and
``bot.views.notifications`` builds the tracking message and its thread replies. The Block Kit
JSON is turned into Slack-like HTML (a small, general renderer below) and screenshotted with
headless Chromium (``apt-get install chromium fonts-lato fonts-noto-color-emoji``; set
``CHROMIUM`` to use another binary). The clock is frozen, so the picture is reproducible.
"""

from __future__ import annotations

import html
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.commands.router import Router
from bot.commands.types import Context
from bot.domain.records import Subscription, TrackedJob
from bot.metastudio.auth import TokenAuth
from bot.metastudio.cache import CachedJobsClient
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.models import JobState
from bot.metastudio.query import JobQuery
from bot.simulator import SimClock, Simulator
from bot.slack.home import simple_stuck
from bot.tracking.watches.reports import error_groups
from bot.views.home import HomeData, home_view
from bot.views.notifications import outcome, tracking_message

OUT = Path(__file__).with_name("messages.png")
NOW = datetime(2025, 6, 12, 13, 42, tzinfo=UTC)  # 15:42 in Berlin
TZ = ZoneInfo("Europe/Berlin")
USER, CHANNEL = "U0DANA", "C0VIDEO"
NAMES = {USER: "dana", CHANNEL: "video-ops"}
WIDTH = 900
Dicts = list[dict[str, Any]]


# -- real bot output ---------------------------------------------------------------------

def add_jobs(sim: Simulator) -> dict[str, str]:
    """Today's jobs: successes, failures with three error codes, two still under way."""
    rng = random.Random(42)
    ids: dict[str, str] = {}

    def job(key: str, asset: str, ago_min: float, run_min: float, outcome: str = "SUCCEED",
            err: tuple[str, str] | None = None, photo: bool = False, **kw: Any) -> None:
        ids[key] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = NOW - timedelta(minutes=ago_min)
        start_in = -(ago_min - 2) * 60
        sim.add_job(ids[key], job_type="PHOTO_DIGITAL_HUMAN_VIDEO" if photo
                    else "2D_DIGITAL_HUMAN_VIDEO", asset_name=asset, create_time=created,
                    script_id="script-004", start_in=start_in,
                    finish_in=kw.pop("finish_in", start_in + run_min * 60), outcome=outcome,
                    error_code=err[0] if err else None, error_msg=err[1] if err else None,
                    video_seconds=kw.pop("video", 75.0))

    internal, missing = ("MSS.00000004", "Internal Error"), ("MSS.10001001", "Asset not found")
    duplicate = ("MSS.10001005", "Asset name already exists")
    job("ok", "Product tour v3", 110, 7.5, photo=True, video=94.5)
    job("failed", "Quarterly update (ZH)", 38, 4, "FAILED", missing)
    for n, (asset, ago) in enumerate([("Onboarding - welcome", 410), ("Safety briefing", 350),
                                      ("Weekly news digest", 260), ("Holiday greeting", 190),
                                      ("Support FAQ #12", 150), ("Training module 4", 70)]):
        job(f"ok{n}", asset, ago, 3 + n * 1.7, photo=n % 2 == 0, video=40 + 23 * n)
    job("f1", "Launch teaser", 300, 2, "FAILED", internal)
    job("f2", "Investor relations Q3", 205, 6, "FAILED", internal)
    job("f3", "Campus recruiting", 125, 1, "FAILED", duplicate)
    job("f4", "Quarterly update (EN)", 55, 3, "FAILED", missing)
    job("c1", "Product tour v2", 240, 2, "CANCELED")
    job("run", "Weekly news digest", 9, 0, finish_in=300)
    job("wait", "Launch teaser (cut 2)", 1, 0, finish_in=900)
    job("stuck", "Brand film (4K)", 230, 0, finish_in=4 * 3600)
    return ids


def collect(sim: Simulator, ids: dict[str, str]) -> list[dict[str, Any]]:
    """The panels of the picture: a caption, and messages (each with optional replies)."""
    client = CachedJobsClient(MetaStudioClient(sim.url, sim.project_id, TokenAuth("demo")),
                              wall_clock=sim.clock)
    router = Router(client, clock=sim.clock)
    ctx = Context(USER, CHANNEL, TZ, channel_name=NAMES[CHANNEL])

    def command(text: str) -> dict[str, Any]:
        payload = router.handle(text, ctx).to_payload()
        message = {"blocks": payload["blocks"],
                   "ephemeral": payload["response_type"] == "ephemeral"}
        return {"caption": f"/videojobs {text}", "messages": [message]}

    jobs = client.get_jobs([ids["ok"], ids["failed"], ids["run"]])

    def tracked(key: str, closed: bool) -> TrackedJob:
        job = jobs[ids[key]]
        return TrackedJob(1, CHANNEL, job.job_id, "1.0", USER, job.state_name,
                          job.create_time, NOW, None, closed)

    def dicts(message: Any) -> Dicts:
        return [block.to_dict() for block in message.blocks]

    parent = tracking_message([tracked("ok", True), tracked("failed", True),
                               tracked("run", False)])
    thread = [{"blocks": dicts(outcome(jobs[ids["ok"]], requested_by=USER))},
              {"blocks": dicts(outcome(jobs[ids["failed"]], requested_by=USER)),
               "broadcast": True}]
    return [
        {"caption": "App Home: the Home tab of @dana", "messages": [
            {"blocks": home(client, tracked("run", False), ids), "home": True}]},
        command(f"status {ids['ok']} {ids['failed']}"),
        command("failed today"),
        command("summary"),
        command("stuck 5m"),
        {"caption": f"/videojobs track {ids['ok'][:8]}… {ids['failed'][:8]}… "
                    f"{ids['run'][:8]}…   (then the jobs end)",
         "messages": [{"blocks": dicts(parent), "replies": thread}]},
    ]


def home(client: CachedJobsClient, mine: TrackedJob, ids: dict[str, str]) -> Dicts:
    """The Home tab as ``bot.views.home`` builds it, from the simulator's jobs."""
    midnight = datetime.combine(NOW.astimezone(TZ).date(), datetime.min.time(), tzinfo=TZ)
    failed = client.list_jobs(JobQuery(states=(JobState.FAILED,), create_since=midnight,
                                       limit=100))
    unfinished = client.list_jobs(JobQuery(states=(JobState.WAITING, JobState.PROCESSING),
                                           sort_key="create_time", sort_dir="asc", limit=100))
    sub = Subscription(3, CHANNEL, "failed", None, None, None, USER, NOW, None, NOW)
    data = HomeData(
        user_id=USER, now=NOW, tz=TZ, tracked=[(mine, client.get_jobs([mine.job_id])
                                                 .get(mine.job_id))],
        subscriptions=[sub], failed_today=failed.count,
        failure_groups=error_groups(list(failed.jobs)),
        stuck=simple_stuck(list(unfinished.jobs), NOW),
    )
    return list(home_view(data)["blocks"])


# -- Block Kit -> Slack-like HTML --------------------------------------------------------

TOKEN = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>|`([^`\n]+)`")
STYLES = [(re.compile(rf"(?<![\w{c}])\{c}([^{c}\n]+?)\{c}(?![\w{c}])"), f"<{tag}>\\1</{tag}>")
          for c, tag in (("*", "b"), ("_", "i"), ("~", "s"))]


def plain(text: str) -> str:
    """Slack-escaped text (``&amp;`` ``&lt;`` ``&gt;``) as safe HTML."""
    return html.escape(html.unescape(text), quote=False)


def mrkdwn(text: str) -> str:
    """Links, mentions and code become placeholders, the rest is escaped and styled."""
    tokens: list[str] = []

    def stash(m: re.Match[str]) -> str:
        target, label, code = m.groups()
        if code is not None:
            tokens.append(f"<code>{plain(code)}</code>")
        elif target[0] in "@#":
            tokens.append(f'<span class="mention">{target[0]}'
                          f"{NAMES.get(target[1:], label or target[1:])}</span>")
        elif target.startswith("!"):
            tokens.append(f'<span class="mention">@{target[1:].split("^")[0]}</span>')
        else:
            tokens.append(f'<a href="{html.escape(target)}">{mrkdwn(label or target)}</a>')
        return f"\x00{len(tokens) - 1}\x00"

    out = plain(TOKEN.sub(stash, text))
    for pattern, repl in STYLES:
        out = pattern.sub(repl, out)
    return re.sub(r"\x00(\d+)\x00", lambda m: tokens[int(m.group(1))], out)


def text_obj(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    return mrkdwn(obj["text"]) if obj.get("type") == "mrkdwn" else plain(obj["text"])


def element(el: dict[str, Any]) -> str:
    kind = el.get("type")
    if kind == "image":
        return f'<img class="ctx-img" src="{html.escape(el["image_url"])}" alt="">'
    if kind == "button":
        return f'<span class="btn {el.get("style", "")}">{text_obj(el["text"])}</span>'
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_obj(el)}</span>"
    return f'<span class="btn">[{html.escape(str(kind))}]</span>'


def block(b: dict[str, Any]) -> str:
    kind = b["type"]
    if kind == "section":
        acc, side = b.get("accessory"), ""
        if acc and acc["type"] == "image":
            side = f'<img class="thumb" src="{html.escape(acc["image_url"])}" alt="">'
        elif acc:
            side = f'<div class="acc">{element(acc)}</div>'
        fields = "".join(f"<div>{text_obj(f)}</div>" for f in b.get("fields", []))
        return (f'<div class="section">{side}<div class="text">{text_obj(b.get("text"))}</div>'
                + (f'<div class="fields">{fields}</div>' if fields else "") + "</div>")
    if kind == "header":
        return f'<div class="header">{text_obj(b["text"])}</div>'
    if kind == "context":
        return f'<div class="context">{"".join(map(element, b["elements"]))}</div>'
    if kind == "actions":
        return f'<div class="actions">{"".join(map(element, b["elements"]))}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "image":
        return f'<img class="image" src="{html.escape(b["image_url"])}" alt="">'
    return f'<div class="context">[{html.escape(kind)} block]</div>'


def message(m: dict[str, Any], time: str, reply: bool = False) -> str:
    if m.get("home"):  # a Home tab is a surface of its own, not a message
        return f'<div class="msg"><div class="body">{"".join(map(block, m["blocks"]))}</div></div>'
    note = ('<div class="note">👁 Only visible to you</div>' if m.get("ephemeral") else "")
    if m.get("broadcast"):
        note = f'<div class="note">Also sent to #{NAMES[CHANNEL]}</div>'
    body = "".join(map(block, m["blocks"]))
    return (f'<div class="msg{" reply" * reply}">{note}<div class="row"><div class="avatar">'
            f'VJ</div><div class="body"><div class="name">videojobs<span class="app">APP</span>'
            f'<span class="time">{time}</span></div>{body}</div></div></div>')


def page(panels: list[dict[str, Any]]) -> str:
    time = NOW.astimezone(TZ).strftime("%H:%M")
    parts = []
    for p in panels:
        msgs = []
        for m in p["messages"]:
            msgs.append(message(m, time))
            if m.get("replies"):
                n = len(m["replies"])
                msgs.append(f'<div class="thread"><div class="count">{n} replies</div>'
                            + "".join(message(r, time, reply=True) for r in m["replies"])
                            + "</div>")
        where = "videojobs" if p["messages"][0].get("home") else f"#{NAMES[CHANNEL]}"
        parts.append(f'<section class="panel"><div class="cap"><b>{where}</b>'
                     f'<code>{html.escape(p["caption"])}</code></div>{"".join(msgs)}</section>')
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{CSS}</style></head>
<body>{"".join(parts)}<script>document.body.dataset.h =
document.documentElement.scrollHeight</script></body></html>"""


CSS = """
body { margin: 0; padding: 14px; background: #f4f2f4; width: 872px; box-sizing: content-box;
  font: 15px/1.4667 Lato, "Noto Sans", sans-serif, "Noto Color Emoji"; color: #1d1c1d; }
.panel { background: #fff; border: 1px solid #dddddd; border-radius: 8px; margin-bottom: 14px;
  padding-bottom: 6px; overflow: hidden; }
.cap { padding: 7px 16px; border-bottom: 1px solid #e8e8e8; color: #616061; font-size: 13px;
  display: flex; gap: 10px; align-items: baseline; }
.cap b { color: #1d1c1d; } .cap code { color: #1d1c1d; background: none; border: 0; }
.msg { padding: 8px 20px 4px; } .row { display: flex; }
.note { font-size: 12px; color: #616061; margin: 0 0 2px 44px; }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; margin-right: 8px; color: #fff;
  background: linear-gradient(135deg, #4a154b, #1264a3); font: 900 14px/36px Lato, sans-serif;
  text-align: center; }
.body { flex: 1; min-width: 0; }
.name { font-weight: 900; } .time { font-size: 12px; color: #616061; font-weight: 400; }
.app { font-size: 10px; font-weight: 700; color: rgba(29,28,29,.7); margin: 0 6px 0 4px;
  background: rgba(29,28,29,.13); border-radius: 2px; padding: 1px 3px; vertical-align: 2px; }
.section { margin: 2px 0 6px; overflow: hidden; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 16px; margin-top: 8px;
  white-space: pre-wrap; max-width: 600px; }
.thumb { float: right; width: 88px; height: 88px; object-fit: cover; border-radius: 8px;
  margin-left: 16px; }
.acc { float: right; margin-left: 16px; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0; }
.context { font-size: 12px; color: #616061; margin: 4px 0 6px; display: flex; gap: 8px;
  align-items: center; white-space: pre-wrap; }
.ctx-img { width: 16px; height: 16px; border-radius: 3px; }
.image { display: block; width: 360px; height: 202px; object-fit: cover; border-radius: 8px;
  border: 1px solid rgba(29,28,29,.1); margin: 6px 0; }
.actions { display: flex; gap: 8px; margin: 8px 0 6px; }
.btn { border: 1px solid rgba(29,28,29,.3); border-radius: 4px; padding: 0 12px; height: 28px;
  line-height: 28px; font-size: 13px; font-weight: 700; background: #fff; }
.btn.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
hr { border: 0; border-top: 1px solid rgba(29,28,29,.13); margin: 10px 0; }
code { font: 12px Menlo, "DejaVu Sans Mono", monospace; color: #e01e5a; padding: 2px 3px 1px;
  background: rgba(29,28,29,.04); border: 1px solid rgba(29,28,29,.13); border-radius: 3px; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: rgba(29,155,209,.1); border-radius: 3px; padding: 0 2px; }
.thread { margin: 0 20px 4px 64px; border-left: 2px solid #e0e0e0; }
.count { color: #1264a3; font-size: 13px; font-weight: 700; padding: 2px 12px; }
.reply { padding-left: 12px; }
"""


# -- screenshot ----------------------------------------------------------------------------

def chromium(*args: str) -> str:
    exe = os.environ.get("CHROMIUM") or next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))),
        None)
    if exe is None:
        sys.exit("no Chromium: apt-get install -y chromium fonts-lato fonts-noto-color-emoji")
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
        # A fixed argument list, no shell: the only input is this script's own file path.
        done = subprocess.run([exe, *flags, *args], capture_output=True, text=True,  # noqa: S603
                              timeout=120, check=True)
    return done.stdout


def main() -> None:
    sim = Simulator(project_id="demo-project", clock=SimClock.frozen(NOW))
    ids = add_jobs(sim)
    server = sim.serve()  # the cover PNGs must be served while Chromium renders
    try:
        panels = collect(sim, ids)
        with tempfile.TemporaryDirectory() as tmp:
            page_file = Path(tmp, "messages.html")
            page_file.write_text(page(panels), encoding="utf-8")
            url = page_file.as_uri()
            dom = chromium(f"--window-size={WIDTH},1000", "--dump-dom", url)
            height = int(re.search(r'data-h="(\d+)"', dom).group(1))  # type: ignore[union-attr]
            chromium(f"--window-size={WIDTH},{height}", f"--screenshot={OUT}", url)
            if os.environ.get("KEEP_HTML"):
                shutil.copy(page_file, OUT.with_suffix(".html"))
    finally:
        server.stop()
    print(f"{OUT} ({OUT.stat().st_size // 1024} KB, {WIDTH}x{height})")


if __name__ == "__main__":
    main()
