"""Cover URLs are signed like object storage URLs, and the simulator serves them: a
real PNG while the URL is valid, object storage's 403 once it has expired."""

from __future__ import annotations

import struct

import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def cover_url(simulator, sim_api) -> str:
    simulator.add_job("done", "SUCCEED")
    return sim_api.jobs()[0]["output_asset_config"]["cover_url"]


def test_a_cover_is_a_real_png(sim_api, cover_url):
    response = sim_api.session.get(cover_url)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content.startswith(PNG_SIGNATURE)
    assert struct.unpack(">II", response.content[16:24]) == (64, 36)  # IHDR: 16:9


def test_an_expired_cover_url_is_refused(sim_api, sim_clock, cover_url):
    sim_clock.advance(25 * 3600)

    response = sim_api.session.get(cover_url)

    assert response.status_code == 403
    assert "Request has expired" in response.text


def test_a_cover_url_with_a_later_expires_does_not_verify(sim_api, cover_url):
    forged = cover_url.replace("Expires=", "Expires=9")

    assert sim_api.session.get(forged).status_code == 403


def test_an_unknown_cover_is_404(simulator, sim_api):
    assert sim_api.session.get(f"{simulator.url}/covers/{'0' * 32}.png").status_code == 404
