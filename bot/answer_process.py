"""Answering in a child process, so that under ``videojobs-bot http`` the acks keep a
core to themselves (docs/operations.md, "Load").

Acking a command takes a fraction of a millisecond; answering it (routing, Block Kit,
the response_url POST) several times that. In one process both share one GIL, so under
load the answers set the pace of the acks. Here each gunicorn worker starts one child
(``spawn``: a fresh interpreter, nothing inherited mid-lock) that builds its own services
and answers on its own :class:`~bot.answer_queue.AnswerQueue`; the worker only sends it
:class:`~bot.listeners.answer.Work`, plain data, through a ``multiprocessing`` queue.

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
import logging
import multiprocessing
import queue
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from .answer_queue import BUSY_TEXT, DRAIN_SECONDS, AnswerQueue
from .response_url import ResponseUrls

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .listeners.answer import Work
    from .services import Services
    from .settings import Settings

log = logging.getLogger(__name__)

RETRY_TEXT = ("⚠️ The bot restarted while answering this; nothing was changed by the "
              "restart. Please run the command again.")
#: How often the worker checks that the child lives when no answer comes back.
WATCH_SECONDS = 0.5
#: Restarts back off from 1 s to this, so a child that cannot start is not spun.
MAX_RESTART_DELAY = 30.0


class _Child:
    """One generation of the answering process, with its two queues."""

    def __init__(self, generation: int, process: BaseProcess, todo: Any, done: Any) -> None:
        self.generation = generation
        self.process = process
        self.todo = todo  # (place, Work), then None to stop
        self.done = done  # places whose answer was given


class AnswerProcess:
    """``submit(work)`` hands ``work`` to the answering process, or returns False at once
    when ``threads`` answers are running and as many are waiting."""

    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        self._settings = settings
        self.threads = threads or settings.videojobs_answer_threads
        self.capacity = 2 * self.threads
        self._context = multiprocessing.get_context("spawn")
        #: One token per place; deque pop/append are atomic, so submit takes no lock.
        self._places: collections.deque[int] = collections.deque(range(self.capacity))
        #: place -> (generation it was sent to, work), until its answer is given.
        self._held: dict[int, tuple[int, Work]] = {}
        self._restarts = 0
        self._responses = ResponseUrls(pool_size=2)
        self._closed = threading.Event()
        self._child = self._start(0)
        self._watcher = threading.Thread(target=self._watch, name="answer-process",
                                         daemon=True)
        self._watcher.start()
        atexit.register(self.close)

    @property
    def pid(self) -> int | None:
        return self._child.process.pid

    def submit(self, work: Work) -> bool:
        if self._closed.is_set():
            return False
        try:
            place = self._places.pop()
        except IndexError:
            return False
        child = self._child  # one read: a restart swaps the whole generation
        self._held[place] = (child.generation, work)
        child.todo.put((place, work))
        return True

    def close(self, timeout: float = DRAIN_SECONDS + 5) -> None:
        """Stop taking work; let the child give the answers it holds, then stop it."""
        if self._closed.is_set():
            return
        self._closed.set()
        child = self._child
        try:
            child.todo.put(None)
            child.process.join(timeout)
        finally:
            if child.process.is_alive():
                child.process.terminate()

    def _start(self, generation: int) -> _Child:
        todo, done = self._context.Queue(), self._context.Queue()
        process = self._context.Process(
            target=_serve, args=(self._settings, self.threads, todo, done),
            name=f"videojobs-answers-{generation}", daemon=True)
        process.start()
        return _Child(generation, process, todo, done)

    def _watch(self) -> None:
        while not self._closed.is_set():
            child = self._child
            try:
                place = child.done.get(timeout=WATCH_SECONDS)
            except queue.Empty:
                if not child.process.is_alive() and not self._closed.is_set():
                    self._restart(child)
                self._release_stale()
                continue
            except (EOFError, OSError):  # the child died while writing
                continue
            if self._held.pop(place, None) is not None:
                self._places.append(place)

    def _restart(self, dead: _Child) -> None:
        log.error("the answering process (pid %s) exited with code %s; starting another",
                  dead.process.pid, dead.process.exitcode)
        time.sleep(min(MAX_RESTART_DELAY, 2.0 ** self._restarts) if self._restarts else 0)
        self._restarts += 1
        self._child = self._start(dead.generation + 1)

    def _release_stale(self) -> None:
        """Answers held by a dead generation will never be given: tell their users, and
        free their places. Checked on every watch, so work sent to a child just as it
        died is caught too."""
        current = self._child.generation
        for place, (generation, work) in list(self._held.items()):
            if generation != current and self._held.pop(place, None) is not None:
                _tell(self._responses, work, RETRY_TEXT)
                self._places.append(place)


def _tell(responses: ResponseUrls, work: Work, text: str) -> None:
    if work.response_url:  # a click in a view has none: nobody to tell
        responses.post(work.response_url,
                       {"text": text, "response_type": "ephemeral", "replace_original": False})


def _serve(settings: Settings, threads: int, todo: Any, done: Any) -> None:
    """The child: build the services, then answer each work item on its own threads
    until told to stop or until the worker that started it is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the worker stops us
    from .logging_setup import configure_logging
    from .services import build_services

    configure_logging(settings)
    services = build_services(settings)
    # Room for every place the worker hands out, and for a place freed in the worker
    # before its thread here has let go of it.
    answers = AnswerQueue(threads, waiting=2 * threads)
    parent = multiprocessing.parent_process()
    while True:
        try:
            item = todo.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                log.warning("the web worker is gone; finishing the answers held")
                break
            continue
        if item is None:
            break
        place, work = item
        if not answers.submit(_answer, services, work, done, place):
            _tell(services.response_urls, work, BUSY_TEXT)
            done.put(place)
    answers.shutdown(timeout=DRAIN_SECONDS)


def _answer(services: Services, work: Work, done: Any, place: int) -> None:
    from .listeners.answer import perform

    try:
        perform(services, work)
    finally:
        done.put(place)
