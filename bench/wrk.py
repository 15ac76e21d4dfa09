"""wrk (a C load generator, ``apt-get install wrk``) driven with Slack-signed requests.

Each request is one of a prepared list of signed bodies: Python signs them ahead with
Slack's v0 HMAC-SHA256 (https://api.slack.com/authentication/verifying-requests-from-slack)
and writes them into the Lua script wrk runs, so the generator spends its CPU on sending,
not hashing, on cores it shares with the server. Timestamps stay within Slack's
5-minute window for a run of seconds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .common import signed_headers

_SCRIPT = """
local requests = {%(requests)s}
local n = 0
request = function()
  n = n + 1
  local r = requests[(n %% #requests) + 1]
  return wrk.format("POST", "/slack/events", r.headers, r.body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, " ..
    "\\"status_errors\\": %%d, \\"socket_errors\\": %%d, \\"p50_us\\": %%d, " ..
    "\\"p99_us\\": %%d}\\n", summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50: float
    p99: float

    @property
    def ok(self) -> int:
        return self.requests - self.status_errors

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else float("nan")


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def write_script(path: Path, bodies: list[str]) -> Path:
    entries = []
    for body in bodies:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}"
                            for k, v in signed_headers(body).items())
        entries.append(f"{{body = {_lua_string(body)}, headers = {{{headers}}}}}")
    path.write_text(_SCRIPT % {"requests": ",\n".join(entries)})
    return path


def run(url: str, script: Path, *, seconds: float, connections: int = 32,
        threads: int = 2) -> WrkResult:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
         "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    match = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    data = json.loads(match.group(1))
    return WrkResult(data["requests"], data["duration_us"] / 1e6, data["status_errors"],
                     data["socket_errors"], data["p50_us"] / 1e6, data["p99_us"] / 1e6)
