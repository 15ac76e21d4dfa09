"""``videojobs-bot demo``: the built-in MetaStudio simulator, the real client, router and
tracking loop, and a console that speaks the slash command's language. No credentials,
no network: everything runs on loopback and in a temporary SQLite file.

Lines are commands, with or without the ``/videojobs`` prefix; a button's label clicks
it (``show more``, ``refresh <job id>``); ``quit`` or end of input exits. Stdin may be a
pipe: ``printf 'failed today\\nsummary\\n' | videojobs-bot demo``.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from pydantic import SecretStr

from ..commands.parse import COMMANDS, parse
from ..commands.router import Router
from ..commands.types import Context, Invalid
from ..domain.messaging import Blocks
from ..domain.reply import Reply
from ..settings import Settings
from ..simulator import Simulator
from ..tracking.process.worker import run_worker
from ..views.text import mrkdwn_to_text, render_blocks, render_text
from ..wiring.services import build_core

SEED_JOBS = 120
#: Seeded unfinished jobs end over the next few minutes; poll often enough to show it
#: (in simulated time: divided by ``--speed``), unless POLL_INTERVAL_SECONDS is set.
POLL_SECONDS = 5.0
USER, CHANNEL, CHANNEL_NAME = "U0DEMO", "C0DEMO", "demo"
QUIT = {"quit", "exit", "q"}


class ConsoleMessenger:
    """A :class:`bot.domain.messaging.Messenger` that prints what Slack would show in #demo."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._ts = itertools.count(1)

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> str:
        where = "thread reply" if thread_ts else "message"
        also = " (also sent to the channel)" if reply_broadcast else ""
        # A user id as the channel: Slack posts to the app's DM with that person.
        place = f"DM to @{channel}" if channel.startswith(("U", "W")) else f"#{CHANNEL_NAME}"
        # The whole message, as Slack shows it: asset, times, cover, error.
        body = "\n".join(render_blocks(blocks)) if blocks else render_text(Reply(text=text))
        indented = "\n".join(f"      {line}" for line in body.splitlines())
        self._console.write(f"  ↳ {where} in {place}{also}:\n{indented}")
        # Its buttons (Acknowledge, Snooze, Cancel) can be typed, as the last answer's.
        self._console.posted_buttons(_buttons([_block_dict(b) for b in blocks or []]))
        return f"{next(self._ts)}.000000"

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        self._console.write(f"  ✎ message updated in #{CHANNEL_NAME}: {mrkdwn_to_text(text)}")


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str | None


class Console:
    """The text front end: the same router as Slack, replies printed with ``render_text``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._buttons: list[Button] = []
        #: Buttons of the bot's latest messages in the channel (a page's Acknowledge),
        #: typed by label when the last answer has no button of that name.
        self._posted: list[Button] = []

    def posted_buttons(self, buttons: Iterator[Button]) -> None:
        found = list(buttons)
        if found:
            with self._lock:
                self._posted = (found + self._posted)[:20]

    def write(self, text: str) -> None:
        # The tracking loop prints from its own thread.
        with self._lock:
            print(text, file=self._out, flush=True)

    def run(self, router: Router, ctx: Context, stdin: TextIO) -> None:
        for line in self._lines(stdin):
            text = line.strip().removeprefix("/videojobs").strip()
            if text.lower() in QUIT:
                return
            button = None if self._is_command(text) else self._button(text)
            if button:
                reply = router.handle_action(button.action_id, button.value, ctx)
            else:
                reply = router.handle(text, ctx)
            if reply is not None:
                self.show(reply)
                later = reply.followup() if reply.followup else None
                if later is not None:
                    later.replace_original = True
                    later.response_type = reply.response_type
                    self.write("(the answer above is updated:)")
                    self.show(later)

    def _is_command(self, text: str) -> bool:
        """A command word is the command, even when a button's label says the same
        (``failed`` after a "Run `/videojobs failed`" button, ``list``, ``stuck``…);
        but a line that is a button's whole label is the button when it has several
        words (``retry now``) or is no valid command alone (``retry`` needs a job id)."""
        words = text.split()
        if not words or words[0].lower() not in COMMANDS:
            return False
        with self._lock:
            labels = {b.label.lower() for b in self._buttons + self._posted}
        if text.lower() not in labels:
            return True
        return len(words) == 1 and not isinstance(parse(text), Invalid)

    def show(self, reply: Reply) -> None:
        if not reply.replace_original:
            self._buttons = list(_buttons(reply.to_payload().get("blocks", [])))
        if reply.response_type == "in_channel":
            self.write(f"(posted in #{CHANNEL_NAME} for everyone)")
        self.write(render_text(reply) + "\n")

    def _lines(self, stdin: TextIO) -> Iterator[str]:
        """Input lines, with a prompt when a person is typing (not for a pipe)."""
        prompt = stdin.isatty()
        while True:
            if prompt:
                self._out.write("videojobs> ")
                self._out.flush()
            line = stdin.readline()
            if not line:
                return
            yield line

    def _button(self, text: str) -> Button | None:
        """The last reply's button named by ``text``: its label or the label's first or
        last word (``more``, ``post``); a job id after it picks among same-named buttons
        (``refresh <job id>``)."""
        lowered = text.lower()
        with self._lock:
            candidates = self._buttons + self._posted
        for button in candidates:
            label = button.label.lower()
            if lowered in (label, label.split()[0], label.split()[-1]):
                return button
            rest = lowered.removeprefix(label + " ")
            if rest != lowered and rest in (button.value or "").lower():
                return button
        return None


def _buttons(blocks: Any) -> Iterator[Button]:
    """Every button in a message's blocks (as JSON), link buttons excepted."""
    if isinstance(blocks, list):
        for item in blocks:
            yield from _buttons(item)
    elif isinstance(blocks, dict):
        if blocks.get("type") == "button" and "url" not in blocks:
            yield Button(blocks["text"]["text"], blocks["action_id"], blocks.get("value"))
        else:
            for value in blocks.values():
                yield from _buttons(value)


def sim_clock(speed: float) -> Callable[[], datetime]:
    """Real time from now on, running ``speed`` times as fast."""
    start, origin = datetime.now(UTC), time.monotonic()
    return lambda: start + timedelta(seconds=(time.monotonic() - origin) * speed)


def run(settings: Settings, *, stdin: TextIO, stdout: TextIO, speed: float = 1.0) -> int:
    """Serve the simulator, run the console until ``quit`` or end of input. With
    ``speed`` above 1 the simulated jobs live (and finish) that many times faster."""
    sim = Simulator("demo-project", seed_jobs=SEED_JOBS, clock=sim_clock(speed))
    poll = (settings.poll_interval_seconds if "poll_interval_seconds" in settings.model_fields_set
            else POLL_SECONDS / speed)
    server = sim.serve()
    console = Console(stdout)
    with tempfile.TemporaryDirectory(prefix="videojobs-demo-") as tmp:
        demo = settings.model_copy(update={
            "metastudio_endpoint": sim.url,
            "metastudio_project_id": sim.project_id,
            # The simulator accepts any credentials when it was given none.
            "metastudio_auth_token": SecretStr("demo"),
            "database_url": f"sqlite:///{tmp}/demo.sqlite3",
            "poll_interval_seconds": poll,
        })
        # The same core as in Slack, around the console: tracking and the router read
        # the simulated clock (a subscription's baseline is then the simulator's "now",
        # and jobs that ended before it are not news), and the demo's user may press
        # Cancel and Retry (a real workspace names them in CANCEL_ALLOWED, RETRY_ALLOWED).
        core = build_core(demo, ConsoleMessenger(console), also_allowed={USER}, clock=sim.now)
        tracking, router = core.tracking, core.router
        stop = threading.Event()
        loop = threading.Thread(target=run_worker, args=(tracking, stop), name="tracking")
        loop.start()
        console.write(
            f"videojobs demo: a simulated MetaStudio with {SEED_JOBS} jobs, some finishing "
            "over the next minutes. Type a command (help, failed today, summary, stuck, "
            "quota, status <id>, track <id> notify=me, retry <id>), a button's label "
            "(Acknowledge, Retry …), or quit.\n"
        )
        try:
            ctx = Context(USER, CHANNEL, settings.timezone, channel_name=CHANNEL_NAME)
            console.run(router, ctx, stdin)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            loop.join()
            tracking.store.close()
            server.stop()
    return 0


def _block_dict(block: Any) -> Any:
    return block.to_dict() if hasattr(block, "to_dict") else block
