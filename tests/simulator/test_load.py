"""Benchmarks lean on the simulator: 10,000 jobs and many concurrent clients must
stay fast and consistent while jobs change underneath."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.fixtures.simulator import LIST_PATH, SIM_TOKEN

REQUESTS, CLIENTS = 200, 8
#: Measured 0.9 s (client and server in one process, 100 jobs an answer); the bound
#: catches a regression to per-request sorting or a lost TCP_NODELAY (~40x slower).
BUDGET_SECONDS = 6.0


def test_hundreds_of_concurrent_requests_over_10000_jobs(serve_simulator):
    api = serve_simulator(token=SIM_TOKEN, seed_jobs=10_000)
    sim = api.sim
    moving = [sim.add_job(state="PROCESSING") for _ in range(100)]
    queries = [
        {"limit": "100"},
        {"limit": "100", "sort_dir": "desc", "offset": "5000"},
        {"limit": "100", "state": "WAITING,PROCESSING"},
        [("job_ids", job_id) for job_id in moving] + [("limit", "100")],
    ]

    local = threading.local()  # one keep-alive connection per client thread

    def one(i: int) -> tuple[int, int]:
        if i % 10 == 0:
            sim.set_state(moving[i % len(moving)], "SUCCEED")
        if not hasattr(local, "session"):
            local.session = requests.Session()
        answer = local.session.get(
            sim.url + LIST_PATH, params=queries[i % len(queries)],
            headers={"X-Auth-Token": SIM_TOKEN}, timeout=10,
        )
        return answer.status_code, len(answer.json()["jobs"])

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(one, range(REQUESTS)))
    elapsed = time.monotonic() - started

    assert all(answer == (200, 100) for answer in answers)
    assert elapsed < BUDGET_SECONDS


def test_connections_beyond_socketservers_default_backlog_wait_to_be_accepted() -> None:
    """The simulator's listening socket queues hundreds of connections, as a real
    server's does: with socketserver's default backlog of 5, clients on a busy machine
    hit connect timeouts (tests/metastudio/test_iam.py once failed so)."""
    import socket

    from bot.simulator import Simulator

    handle = Simulator("backlog").serve()
    handle._server.shutdown()  # nothing accepts now: only the backlog holds connections
    held: list[socket.socket] = []
    try:
        for _ in range(64):
            held.append(socket.create_connection((handle.host, handle.port), timeout=1.0))
    finally:
        for sock in held:
            sock.close()
        handle._server.server_close()
    assert len(held) == 64
