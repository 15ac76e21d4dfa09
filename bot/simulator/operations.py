"""The simulator's cancel and resources-usage operations (beside the list).

``POST …/{2d|photo}-digital-human-videos/{job_id}/cancel`` cancels a WAITING job and
refuses any other state with a 400, as MetaStudio does; ``GET
…/tenants/resources-usage`` answers :data:`DEFAULT_RESOURCES` unless a test sets
``simulator.resources``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .faults import ERROR_BODIES

if TYPE_CHECKING:
    from .service import Simulator

CANCEL_PATH = re.compile(
    r"/v1/(?P<project>[^/]+)/(?P<kind>2d|photo)-digital-human-videos/(?P<job>[^/]+)/cancel")
USAGE_PATH = re.compile(r"/v1/(?P<project>[^/]+)/tenants/resources-usage")
#: A tenant with a 2D package half used and a photo package nearly empty.
DEFAULT_RESOURCES: list[dict[str, Any]] = [
    {"resource_type": "VIDEO_2D_PACKAGE", "business_type": "VIDEO_2D",
     "charging_mode": "ONE_TIME", "resource_source": "PURCHASED", "amount": 1000,
     "usage": 480.5, "unit": "MIN"},
    {"resource_type": "PICTURE_2D_PACKAGE", "business_type": "PICTURE_2D",
     "charging_mode": "ONE_TIME", "resource_source": "PURCHASED", "amount": 300,
     "usage": 291, "unit": "MIN"},
]
#: What MetaStudio answers when the job is no longer waiting.
NOT_WAITING = "MSS.00000003"

Answer = tuple[int, Any, dict[str, str]]


def route(sim: Simulator, method: str, path: str, query: list[tuple[str, str]],
          headers: Any) -> Answer | None:
    """The answer for a cancel or resources-usage request, or None for other paths."""
    cancel = CANCEL_PATH.fullmatch(path)
    usage = USAGE_PATH.fullmatch(path)
    if not ((method == "POST" and cancel) or (method == "GET" and usage)):
        return None
    match = cancel or usage
    assert match is not None
    refused = sim.admit(method, path, query, headers, unquote(match["project"]))
    if refused:
        return refused
    if usage:
        return 200, {"resources": getattr(sim, "resources", DEFAULT_RESOURCES)}, {}
    assert cancel is not None
    return _cancel(sim, unquote(cancel["job"]), photo=cancel["kind"] == "photo")


def _cancel(sim: Simulator, job_id: str, *, photo: bool) -> Answer:
    now = sim.now().replace(microsecond=0)
    with sim.store.lock:
        try:
            job = sim.store.get(job_id)
        except KeyError:
            return 404, ERROR_BODIES[404], {}
        if job.job_type.startswith("PHOTO") != photo and not (
                photo and job.job_type == "DIGITAL_HUMAN_PHOTO_VIDEO"):
            return 404, ERROR_BODIES[404], {}
        state = job.state_at(now)
        if state != "WAITING":
            return 400, {"error_code": NOT_WAITING,
                         "error_msg": f"The job is {state}; only a WAITING job can be canceled"}, {}
        job.fixed_state, job.fixed_since = "CANCELED", now
    return 200, {}, {}
