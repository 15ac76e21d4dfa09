"""A pytest plugin that runs mutmut's mutants by forking, for ``scripts/mutation.sh -f``.

mutmut 3 starts pytest again for every mutant, and collecting this suite takes about 20 s
before a widely used function's tests even start. This plugin collects once, then forks
one child per mutant that runs only the tests mutmut recorded as reaching the mutated
function (``mutants/mutmut-stats.json``): the tests that killed the function's earlier
mutants first, then the fastest. mutmut has no such mode, hence this file.

Run from inside ``mutants/`` with it on the path (``mutation.sh -f`` does that):

    MUTATION_FORK_GLOBS='bot.tracking.delivery.outbox*' python -m pytest -p mutation_fork tests

Environment: ``MUTATION_FORK_GLOBS`` (space-separated mutant name globs, default every
mutant), ``MUTATION_FORK_JOBS`` (children at once, default 2). Verdicts go to
``forked.json`` as they come (killed / survived / timeout / no tests) and survivors are
listed at the end; ``mutmut show NAME`` (from the project root) shows one as a diff.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

RESULTS = Path("forked.json")
SCRATCH = Path("fork-scratch").absolute()  # inside mutants/
#: A child gets this many times its tests' recorded time (plus a constant) before it
#: counts as killed by a timeout, like mutmut's own timeout_multiplier.
TIMEOUT_FACTOR, TIMEOUT_CONSTANT = 5.0, 15.0


def _function(mutant: str) -> str:
    return mutant.rsplit("__mutmut_", 1)[0]


def _mutant_names(globs: list[str]) -> list[str]:
    names: list[str] = []
    for meta in sorted(Path("bot").rglob("*.meta")):
        names += json.loads(meta.read_text())["exit_code_by_key"]
    return [n for n in names if any(fnmatch.fnmatch(n, g) for g in globs)]


def _run_child(session: pytest.Session, name: str, items: list[pytest.Item],
               killer_file: Path) -> int:
    """In the forked child: activate ``name``, run ``items`` until one fails."""
    from mutmut.mutation import trampoline

    os.setpgid(0, 0)  # so the parent can kill servers the tests started, too
    trampoline.set_mutant_under_test(name)
    # Each child its own temporary directory: they run side by side.
    factory = session.config._tmp_path_factory  # type: ignore[attr-defined]
    factory._given_basetemp = SCRATCH / str(os.getpid())
    factory._basetemp = None
    for i, item in enumerate(items):
        reports = runtestprotocol(item, nextitem=items[i + 1] if i + 1 < len(items) else None,
                                  log=False)
        if any(r.failed for r in reports):
            killer_file.write_text(item.nodeid)
            return 1
    return 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool:
    globs = os.environ.get("MUTATION_FORK_GLOBS", "").split() or ["*"]
    jobs = int(os.environ.get("MUTATION_FORK_JOBS", "2"))
    stats = json.loads(Path("mutmut-stats.json").read_text())
    tests_of: dict[str, list[str]] = stats["tests_by_mangled_function_name"]
    duration: dict[str, float] = stats["duration_by_test"]
    items = {item.nodeid: item for item in session.items}
    killers: dict[str, list[str]] = {}
    results: dict[str, dict[str, Any]] = {}
    todo = _mutant_names(globs)
    running: dict[int, tuple[str, float, float, Path]] = {}
    SCRATCH.mkdir(exist_ok=True)
    say = session.config.pluginmanager.get_plugin("terminalreporter").write_line

    def plan(name: str) -> list[str]:
        reached = [t for t in tests_of.get(_function(name), []) if t in items]
        first = [t for t in dict.fromkeys(killers.get(_function(name), [])) if t in reached]
        rest = sorted((t for t in reached if t not in first), key=lambda t: duration.get(t, 1.0))
        return first + rest

    def start(name: str) -> None:
        tests = plan(name)
        if not tests:
            results[name] = {"verdict": "no tests"}
            return
        killer_file = SCRATCH / f"{name}.killer"
        killer_file.unlink(missing_ok=True)
        budget = TIMEOUT_CONSTANT + TIMEOUT_FACTOR * sum(duration.get(t, 1.0) for t in tests)
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                code = _run_child(session, name, [items[t] for t in tests], killer_file)
            finally:
                os._exit(code)
        running[pid] = (name, time.monotonic(), budget, killer_file)

    def finish(pid: int, name: str, started: float, status: int | None, killer: Path) -> None:
        seconds = round(time.monotonic() - started, 1)
        if status is None:
            results[name] = {"verdict": "timeout", "seconds": seconds}
        else:
            code = os.waitstatus_to_exitcode(status)
            verdict = {0: "survived", 1: "killed"}.get(code, f"error {code}")
            by = killer.read_text() if killer.exists() else None
            results[name] = {"verdict": verdict, "by": by, "seconds": seconds}
            if by:
                killers.setdefault(_function(name), []).insert(0, by)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # anything the child's tests left running
        shutil.rmtree(SCRATCH / str(pid), ignore_errors=True)
        tmp = RESULTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(RESULTS)
        say(f"{len(results)}/{len(results) + len(todo) + len(running)} "
            f"{results[name]['verdict']:9} {name}")

    while todo or running:
        while todo and len(running) < jobs:
            start(todo.pop(0))
        time.sleep(0.05)
        for pid, (name, started, budget, killer) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del running[pid]
                finish(pid, name, started, status, killer)
            elif time.monotonic() - started > budget:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del running[pid]
                finish(pid, name, started, None, killer)

    counts = Counter(r["verdict"] for r in results.values())
    say("\n" + ", ".join(f"{v}: {n}" for v, n in counts.most_common()))
    for name, result in results.items():
        if result["verdict"] in ("survived", "no tests"):
            say(f"{result['verdict']:9} {name}")
    return True
