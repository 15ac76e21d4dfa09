"""Shared fixtures: each fake lives in tests/fakes/, its fixtures in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.slack",
    "tests.fixtures.database",
    "tests.fixtures.simulator",
    "tests.fixtures.tracking",
    "tests.fixtures.metastudio",
    "tests.fixtures.app",
]
