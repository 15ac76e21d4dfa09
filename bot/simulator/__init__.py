"""A MetaStudio simulator: ``GET /v1/{project_id}/digital-human-videos`` over real
HTTP with the reference's filters, paging, errors and authentication, jobs that
progress over (simulated) time, their details, cancel and create operations, an asset
library, fault injection, IAM logins and cover images. For tests, the console demo and
benchmarks; see :class:`Simulator`."""

from .clock import SimClock
from .runner import run
from .server import ServerHandle
from .service import RecordedRequest, Simulator

__all__ = ["RecordedRequest", "ServerHandle", "SimClock", "Simulator", "run"]
