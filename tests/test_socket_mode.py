"""``videojobs-bot socket``: a refused connection is one line, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.app import bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK


def test_a_refused_app_token_is_explained_in_one_line(fake_slack, simulator, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "socket"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env=bot_env(
            SLACK_BOT_TOKEN=fake_slack.token, SLACK_APP_TOKEN="xapp-1-revoked",
            SLACK_API_URL=fake_slack.url, METASTUDIO_ENDPOINT=simulator.url,
            METASTUDIO_PROJECT_ID=PROJECT_ID, METASTUDIO_AK=AK, METASTUDIO_SK=SK,
            DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", LOG_LEVEL="WARNING",
        ),
    )

    assert result.returncode == 1
    assert "SLACK_APP_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert "xapp-1-revoked" not in result.stderr
    # It asked Slack for a Socket Mode connection with the app token.
    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == "Bearer xapp-1-revoked"
