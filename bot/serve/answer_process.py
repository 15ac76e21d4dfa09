"""Answering in a child process, so that under ``videojobs-bot http`` the acks keep a
core to themselves (docs/operations.md, "Load").

Acking a command takes a fraction of a millisecond; answering it (routing, Block Kit,
the response_url POST) several times that. In one process both share one GIL, so under
load the answers set the pace of the acks. Here each gunicorn worker starts one child
(``subprocess``: a fresh interpreter, nothing inherited mid-lock; its settings come as the
first message) that builds its own services and answers on its own
:class:`~bot.slack.answer_queue.AnswerQueue`; the worker only sends it
:class:`~bot.slack.listeners.answer.Work`, plain data, through a pipe. Not
``multiprocessing``'s ``spawn``, as before: on POSIX it also starts a resource tracker
process (7 MiB PSS), which guards semaphores and shared memory the child never uses.

The worker keeps the count of places (the child's threads and as many waiting), so it
can still answer "busy" in the ack itself. Each answer given frees its place. If the
child dies (killed, out of memory), the worker starts another and tells each user whose
answer it was holding to run the command again: nothing is dropped silently. If the
worker dies, the child finishes what it holds and exits.

Written by hand: no library runs a supervised, bounded worker process beside gunicorn's
threads (``concurrent.futures.ProcessPoolExecutor`` pickles a function per call,
queues without bound, and breaks for good when a child dies).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ..slack.answer_queue import BUSY_TEXT, DRAIN_SECONDS, AnswerQueue
from ..slack.response_url import ResponseUrls
from ..telemetry.processes import forget_process

if TYPE_CHECKING:
    from ..settings import Settings
    from ..slack.listeners.answer import Work
    from ..slack.services import Services

log = logging.getLogger(__name__)

RETRY_TEXT = ("⚠️ The bot restarted while answering this; nothing was changed by the "
              "restart. Please run the command again.")
#: How often the worker checks that the child lives when no answer comes back.
WATCH_SECONDS = 0.5
#: Restarts back off from 1 s to this, so a child that cannot start is not spun.
MAX_RESTART_DELAY = 30.0
#: A place given back, as the child writes it to the ``done`` pipe.
PLACE = struct.Struct("<i")
#: The place of the ping each new child is sent: given back once the child's answer
#: threads run it, so the worker knows this child answers (``/healthz``).
PING = -1
#: The child's command line; it is given its two pipe ends' descriptors after it.
CHILD_CODE = "from bot.serve.answer_process import child_main; child_main()"


class _Child:
    """One generation of the answering process and the two pipes to it."""

    def __init__(self, generation: int, process: subprocess.Popen[bytes], todo: Connection,
                 done: Connection) -> None:
        self.generation = generation
        self.process = process
        self.todo = todo  # [place, Work's fields] as JSON to the child; closing it says "stop"
        self.done = done  # 4-byte places back from the child; EOF when it is gone
        self.lock = threading.Lock()  # one writer at a time on ``todo``
        self.started = time.monotonic()


class AnswerProcess:
    """``submit(work)`` hands ``work`` to the answering process, or returns False at once
    when ``threads`` answers are running and as many are waiting.

    Raw pipes rather than ``multiprocessing.Queue``: a Queue's feeder thread (and a
    reader of answers given) must win the GIL from the request threads for every item,
    and under load they won it so rarely that the worker answered "busy" with the child
    idle. Here the request thread writes its own item, and the watcher takes every
    place given back in one read."""

    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        self._settings = settings
        self.threads = threads or settings.videojobs_answer_threads
        self.capacity = 2 * self.threads
        #: One token per place; deque pop/append are atomic, so submit takes no lock.
        self._places: collections.deque[int] = collections.deque(range(self.capacity))
        #: place -> (generation it was sent to, work), until its answer is given.
        self._held: dict[int, tuple[int, Work]] = {}
        self._restarts = 0
        self._responses = ResponseUrls(pool_size=2)
        self._closed = threading.Event()
        #: The generation whose ping came back: that child answers.
        self._answering = -1
        self._child = self._start(0)
        self._watcher = threading.Thread(target=self._watch, name="answer-process",
                                         daemon=True)
        self._watcher.start()
        atexit.register(self.close)

    @property
    def pid(self) -> int:
        return self._child.process.pid

    def ready(self) -> bool:
        """Whether the current child answers: it has built its services and its answer
        threads gave back the ping it was sent at start. False while a child starts
        (also after one died), so ``/healthz`` does not call this worker ready before
        a command sent to it would be answered."""
        return self._answering == self._child.generation

    def submit(self, work: Work) -> bool:
        if self._closed.is_set():
            return False
        try:
            place = self._places.pop()
        except IndexError:
            return False
        child = self._child  # one read: a restart swaps the whole generation
        self._held[place] = (child.generation, work)
        item = json.dumps([place, asdict(work)]).encode()
        try:
            with child.lock:
                child.todo.send_bytes(item)
        except OSError:
            # The child is gone: the watcher starts another and tells this user to
            # run the command again (its place is held under the dead generation).
            pass
        return True

    def close(self, timeout: float = DRAIN_SECONDS + 5) -> None:
        """Stop taking work; let the child give the answers it holds, then stop it."""
        if self._closed.is_set():
            return
        self._closed.set()
        child = self._child
        try:
            with child.lock:
                child.todo.close()  # the child reads EOF once it has read the rest
            _wait(child.process, timeout)
        finally:
            if child.process.poll() is None:
                child.process.terminate()
                _wait(child.process, 5)
            forget_process(child.process.pid)  # gone, or going: its live gauges too

    def _start(self, generation: int) -> _Child:
        todo_read, todo_write = os.pipe()
        done_read, done_write = os.pipe()
        try:
            # Not multiprocessing: its spawn starts a resource tracker too (module docstring).
            # The child inherits stdout and stderr (the logs) and only these two pipe ends.
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
                [sys.executable, "-c", CHILD_CODE, str(todo_read), str(done_write)],
                stdin=subprocess.DEVNULL, pass_fds=(todo_read, done_write))
        finally:
            # Only the child keeps these ends: its exit closes them, and each side reads EOF.
            os.close(todo_read)
            os.close(done_write)
        todo = Connection(todo_write, readable=False)
        child = _Child(generation, process, todo, Connection(done_read, writable=False))
        with contextlib.suppress(OSError):  # a child gone already: the watcher restarts it
            # The settings as they are (test overrides, secrets), not read again from the
            # environment. Then the ping, read once the child has built its services and
            # answered by its answer threads.
            todo.send_bytes(pickle.dumps((self._settings, self.threads)))
            todo.send_bytes(json.dumps([PING, None]).encode())
        return child

    def _watch(self) -> None:
        pending = b""
        while not self._closed.is_set():
            child = self._child
            if not child.done.poll(WATCH_SECONDS):
                self._release_stale()
                continue
            try:
                data = os.read(child.done.fileno(), 64 * 1024)
            except OSError:
                data = b""
            if not data:  # EOF: the child is gone
                if not self._closed.is_set():
                    _wait(child.process, 5)
                    self._restart(child)
                    pending = b""
                continue
            pending += data
            usable = len(pending) - len(pending) % PLACE.size
            for (place,) in PLACE.iter_unpack(pending[:usable]):
                if place == PING:
                    self._answering = child.generation
                    log.info("the answering process (pid %s) answers", child.process.pid)
                elif self._held.pop(place, None) is not None:
                    self._places.append(place)
            pending = pending[usable:]

    def _restart(self, dead: _Child) -> None:
        log.error("the answering process (pid %s) exited with code %s; starting another",
                  dead.process.pid, dead.process.returncode)
        forget_process(dead.process.pid)
        if time.monotonic() - dead.started > MAX_RESTART_DELAY * 2:
            self._restarts = 0  # it ran for a while: not a child that cannot start
        time.sleep(min(MAX_RESTART_DELAY, 2.0 ** self._restarts) if self._restarts else 0)
        self._restarts += 1
        self._child = self._start(dead.generation + 1)
        dead.done.close()
        with dead.lock:
            dead.todo.close()
        self._release_stale()

    def _release_stale(self) -> None:
        """Answers held by a dead generation will never be given: tell their users, and
        free their places. Checked on every watch, so work sent to a child just as it
        died is caught too."""
        current = self._child.generation
        for place, (generation, work) in list(self._held.items()):
            if generation != current and self._held.pop(place, None) is not None:
                _tell(self._responses, work, RETRY_TEXT)
                self._places.append(place)


def _wait(process: subprocess.Popen[bytes], timeout: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)


def _tell(responses: ResponseUrls, work: Work, text: str) -> None:
    if work.response_url:  # a click in a view has none: nobody to tell
        responses.post(work.response_url,
                       {"text": text, "response_type": "ephemeral", "replace_original": False})


def child_main() -> None:
    """The child's entry point (:data:`CHILD_CODE`): ``todo`` and ``done`` are the
    descriptors given after the code; the first message on ``todo`` is the settings
    and the thread count."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the worker stops us
    todo_fd, done_fd = (int(arg) for arg in sys.argv[1:3])
    todo = Connection(todo_fd, writable=False)
    done = Connection(done_fd, readable=False)
    try:
        # From the worker that started us, through a pipe only we two hold.
        settings, threads = pickle.loads(todo.recv_bytes())  # noqa: S301
    except (EOFError, OSError):
        return  # the worker went before we started
    _serve(settings, threads, todo, done)


def _serve(settings: Settings, threads: int, todo: Connection, done: Connection) -> None:
    """The child: build the services, then answer each work item on its own threads
    until the worker closes its end of ``todo`` (or dies: the same EOF)."""
    from ..slack.listeners.answer import Work
    from ..telemetry.metrics import COMMANDS
    from ..wiring.services import build_services
    from .logging_setup import configure_logging

    configure_logging(settings)
    services = build_services(settings)
    # Room for every place the worker hands out, and for a place freed in the worker
    # before its thread here has let go of it.
    answers = AnswerQueue(threads, waiting=2 * threads)
    while True:
        try:
            place, fields = json.loads(todo.recv_bytes())
        except (EOFError, OSError):
            break
        if place == PING:
            if not answers.submit(_given, done, PING):
                _given(done, PING)
            continue
        work = Work(**fields)
        if not answers.submit(_answer, services, work, done, place):
            # Not expected (the worker counts places); if it happens, still an answer.
            COMMANDS.labels(command="any", outcome="busy").inc()
            _tell(services.response_urls, work, BUSY_TEXT)
            _given(done, place)
    answers.shutdown(timeout=DRAIN_SECONDS)


def _answer(services: Services, work: Work, done: Connection, place: int) -> None:
    from ..slack.listeners.answer import perform

    try:
        perform(services, work)
    finally:
        _given(done, place)


def _given(done: Connection, place: int) -> None:
    # 4 bytes: one write(2) below PIPE_BUF is atomic, so answer threads need no lock.
    # A worker that is gone (EPIPE) no longer counts places.
    with contextlib.suppress(OSError):
        os.write(done.fileno(), PLACE.pack(place))
