"""``videojobs-bot simulator``: the simulator alone on a port, for development."""

from __future__ import annotations

import threading

from .service import Simulator

#: The credentials a developer points the bot at (METASTUDIO_AK/SK or _AUTH_TOKEN).
DEMO_PROJECT_ID = "proj-1"
DEMO_AK, DEMO_SK, DEMO_TOKEN = "SIM-AK", "SIM-SK", "SIM-TOKEN"


def run(port: int, host: str = "127.0.0.1", seed_jobs: int = 200) -> None:
    """Serve forever (until Ctrl-C) with ``seed_jobs`` realistic jobs, real time, and
    the demo credentials, printed on one line."""
    sim = Simulator(
        DEMO_PROJECT_ID, ak=DEMO_AK, sk=DEMO_SK, token=DEMO_TOKEN, seed_jobs=seed_jobs
    )
    handle = sim.serve(host, port)
    print(
        f"MetaStudio simulator on {handle.url} project_id={sim.project_id} "
        f"token={DEMO_TOKEN} ak={DEMO_AK} sk={DEMO_SK} ({seed_jobs} seeded jobs)",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        handle.stop()
