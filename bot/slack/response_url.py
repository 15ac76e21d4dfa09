"""Answers posted to a command's or a click's ``response_url`` over kept-alive
connections.

Bolt's ``respond`` sends each answer with slack_sdk's ``WebhookClient``, which opens a
new connection (name lookup, TCP, TLS) for every answer: under load that was about 40 %
of the answering process's time (docs/operations.md, "Load"). ``WebhookClient`` takes
no session or opener to reuse (only ``url``, ``timeout``, ``ssl``, ``proxy``, headers,
logger and retry handlers:
https://slack.dev/python-slack-sdk/api-docs/slack_sdk/webhook/client.html), so one
requests ``Session`` per process keeps its connections to Slack open between answers
(https://requests.readthedocs.io/en/latest/user/advanced/#session-objects).

The session does not read the environment on every answer (``trust_env`` off): requests
otherwise looks up ``~/.netrc`` and the proxy variables for each POST, a tenth of the
answering process's CPU under load (docs/operations.md, "Load"). What those variables
say is read once, when the session is made: ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``NO_PROXY`` (once per host) and ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``. A
response_url carries no credentials a ``.netrc`` could add.
"""

from __future__ import annotations

import functools
import logging
import os
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
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
        self._session.trust_env = False
        # requests' own order: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE.
        self._session.verify = (os.environ.get("REQUESTS_CA_BUNDLE")
                                or os.environ.get("CURL_CA_BUNDLE") or True)
        #: Whether a proxy variable is set; without one, no answer asks which applies.
        self._proxied = any(scheme != "no"
                            for scheme in urllib.request.getproxies_environment())
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
        proxies = _proxies_for(_origin(url)) if self._proxied else None
        try:
            response = self._session.post(url, json=payload, timeout=TIMEOUT, proxies=proxies)
        except requests.RequestException as e:
            log.warning("response_url could not be reached: %s", type(e).__name__)
            return Posted(0, type(e).__name__)
        return Posted(response.status_code, response.text)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


@functools.lru_cache(maxsize=64)
def _proxies_for(origin: str) -> dict[str, str]:
    """The proxy variables' answer for one scheme and host, as requests would find it
    (``NO_PROXY`` included), asked once: response_urls all go to a few hosts."""
    return dict(get_environ_proxies(origin))
