"""Shared fixtures: each fake lives in tests/fakes/, its fixtures in tests/fixtures/."""

import os

from hypothesis import settings

# Locally hypothesis draws new examples each run (it has found real bugs that way); CI
# replays a fixed set, so a landing never depends on a lucky draw.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

pytest_plugins = [
    "tests.fixtures.slack",
    "tests.fixtures.database",
    "tests.fixtures.simulator",
    "tests.fixtures.metastudio",
    "tests.fixtures.tracking",
    "tests.fixtures.app",
]
