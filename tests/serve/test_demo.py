"""``videojobs-bot demo`` as a person (or a script) uses it: commands on stdin, text out."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.app import bot_env

BOT = str(Path(sys.executable).with_name("videojobs-bot"))


def demo(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BOT, "demo"], input=script, cwd=tmp_path, env=bot_env(),
        capture_output=True, text=True, timeout=60,
    )


def test_piped_commands_are_answered_and_the_demo_exits(tmp_path: Path) -> None:
    result = demo("status nope\nfailed today\n/videojobs summary 7d\n", tmp_path)

    assert result.returncode == 0, result.stderr
    assert "No job `nope` found." in result.stdout
    assert re.search(r"❌ \d+ failed jobs? · today \(UTC\)", result.stdout)
    assert "📊 Summary · last 7d" in result.stdout
    assert "[Post to channel]" in result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr == ""  # no log chatter unless LOG_LEVEL asks for it


def test_buttons_are_typed_by_label(tmp_path: Path) -> None:
    result = demo("succeeded 7d\nmore\npost\nquit\nhelp\n", tmp_path)

    assert result.returncode == 0, result.stderr
    assert "[Show more]" in result.stdout
    assert re.search(r"Jobs 21 to 40 of \d+", result.stdout)
    assert "(posted in #demo for everyone)" in result.stdout
    assert "MetaStudio video jobs in Slack" not in result.stdout  # after quit, nothing runs


def test_the_on_call_commands_work_in_the_console(tmp_path: Path) -> None:
    result = demo("faild 7d\nrun\nstuck\nquota\nsubscribe failed\nsubscribe stuck\n"
                  "mute all 2h\nsettings broadcast=off\nunmute\nsubscriptions\n", tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[Run /videojobs failed 7d]" in out and "failed jobs · last 7d" in out
    assert "Next step" in out  # the runbook under the triage block's codes
    assert "stuck job" in out and "Video minutes" in out
    assert "Muted all subscription announcements" in out and "set for this channel" in out
    assert "Unmuted" in out and "stuck, by @U0DEMO" in out


def test_the_users_timezone_setting_is_today(tmp_path: Path) -> None:
    result = subprocess.run(
        [BOT, "demo"], input="failed today\n", cwd=tmp_path, capture_output=True, text=True,
        env=bot_env(VIDEOJOBS_TIMEZONE="Asia/Shanghai"), timeout=60,
    )

    assert re.search(r"❌ \d+ failed jobs? · today \(Asia/Shanghai\)", result.stdout)


@pytest.mark.slow
def test_tracked_jobs_are_announced_in_their_thread(tmp_path: Path) -> None:
    """Seeded jobs finish over the next minutes (seconds, at ten times the speed); the
    poller announces them as Slack would."""
    bot = subprocess.Popen(
        [BOT, "demo", "--speed", "10"], cwd=tmp_path, env=bot_env(), text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in bot.stdout], daemon=True).start()
    try:
        send(bot, "processing")
        running = re.findall(r"⚙️ `([0-9a-f-]{36})`", wait_for(lines, "processing jobs ·"))
        assert running

        send(bot, "track " + " ".join(running))

        wait_for(lines, "↳ message in #demo")  # the tracking message
        reply = wait_for(lines, "↳ thread reply in #demo", timeout=150)
        # The whole reply, as Slack would show it: outcome, then the asset and the rest.
        # It mentions who tracked the job, so the thread reply reaches them.
        assert re.search(
            r"↳ thread reply in #demo[^\n]*:\n +@U0DEMO \*?[✅❌🚫🧊] `[0-9a-f-]{36}`", reply)
        assert "Asset:" in reply
        send(bot, "quit")
        assert bot.wait(timeout=30) == 0
    finally:
        bot.kill()


def send(bot: subprocess.Popen, line: str) -> None:
    assert bot.stdin is not None
    bot.stdin.write(line + "\n")
    bot.stdin.flush()


def wait_for(lines: queue.Queue[str], marker: str, timeout: float = 30) -> str:
    """Everything printed up to and including the next reply containing ``marker``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=deadline - time.monotonic()))
        except queue.Empty:
            break
        if marker in seen[-1]:
            # The rest of this reply: lines until the blank line that ends it.
            while seen[-1].strip():
                try:
                    seen.append(lines.get(timeout=2))
                except queue.Empty:
                    break
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout} s; got:\n{''.join(seen)}")


def test_a_typed_command_word_is_the_command_even_where_a_button_says_it(
        tmp_path: Path) -> None:
    """Issue #21, 9: after a triage with **List jobs** buttons, typing ``list`` lists
    jobs (the command); it used to press the first List jobs button."""
    result = demo("failed 7d\nlist\n", tmp_path)

    assert result.returncode == 0, result.stderr
    listings = [line for line in result.stdout.splitlines() if " jobs · " in line
                or " job · " in line]
    assert "[List jobs]" in result.stdout
    assert len(listings) >= 2
    assert not any("· MSS." in line for line in listings[1:])  # no code's listing


def test_status_of_a_blocked_job_says_why(tmp_path: Path) -> None:
    listing = demo("blocked 7d\n", tmp_path)
    ids = re.findall(r"🧊 `([0-9a-f-]{36})` · [^·]+ · 2D avatar video", listing.stdout)
    assert ids, listing.stdout  # the seeded project always has frozen 2D jobs

    result = demo(f"status {ids[0]}\n", tmp_path)

    assert result.returncode == 0, result.stderr
    assert "*Why:*" in result.stdout
    assert "Model asset Dora (2D model) (`sim-model-dora`) is frozen (BLOCK)" in result.stdout


def test_a_failed_job_is_retried_by_typing_its_buttons(tmp_path: Path) -> None:
    """Issue #24: Retry and Retry now as typed labels; ``retry`` alone needs a job id, so
    after a card with a Retry button it is the button, not a usage error."""
    listing = demo("failed 7d\n", tmp_path)
    ids = re.findall(r"❌ `([0-9a-f-]{36})` · [^·]+ · 2D avatar video", listing.stdout)
    assert ids, listing.stdout

    result = demo(f"status {ids[0]}\nretry\nretry now\nretry now\n", tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[Retry now] [Don't retry]" in out and "video minute" in out
    [new_id] = re.findall(rf"retried `{ids[0]}`: created `([0-9a-f-]{{36}})`", out)
    assert "Tracking 1 job for @U0DEMO" in out and new_id in out
    assert f"was already retried by @U0DEMO as `{new_id}`" in out  # the second press
