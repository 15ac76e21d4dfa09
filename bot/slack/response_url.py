"""Answers posted to a command's or a click's ``response_url`` over kept-alive
connections.

Bolt's ``respond`` sends each answer with slack_sdk's ``WebhookClient``, which opens a
new connection (name lookup, TCP, TLS) for every answer: under load that was about 40 %
of the answering process's time (docs/operations.md, "Load"). One requests ``Session``
per process keeps its connections to Slack open between answers
(https://requests.readthedocs.io/en/latest/user/advanced/#session-objects).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

#: Seconds to connect, then to wait for Slack's answer.
TIMEOUT = (5.0, 10.0)


@dataclass(frozen=True)
class Posted:
    """Slack's answer to one POST: HTTP status (0 when none came) and body."""

    status_code: int
    body: str


class ResponseUrls:
    """Posts JSON answers to response_urls; thread-safe, one per process."""

    def __init__(self, pool_size: int = 10) -> None:
        self._session = requests.Session()
        # One retry when the connection fails or drops before an answer, as slack_sdk's
        # ConnectionErrorRetryHandler did for Bolt's respond (a kept-alive connection
        # Slack has just closed fails that way); never on an HTTP status, which Slack
        # sent after reading the answer.
        retry = Retry(total=1, connect=1, read=1, status=0, redirect=0, other=0,
                      allowed_methods=None, raise_on_status=False)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retry)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def post(self, url: str | None, payload: dict[str, Any]) -> Posted:
        if not url:
            raise ValueError("this request has no response_url to answer at")
        try:
            response = self._session.post(url, json=payload, timeout=TIMEOUT)
        except requests.RequestException as e:
            log.warning("response_url could not be reached: %s", type(e).__name__)
            return Posted(0, type(e).__name__)
        return Posted(response.status_code, response.text)
