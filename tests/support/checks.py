"""Checks shared by the suites: one ``Error:`` line and no traceback, polling, a known secret."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Used as the password in URLs: PostgreSQL here trusts local connections, so any password works.
SECRET = "Pw-8d3f_hunter2"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_one_error(stderr: str, expected: str | None = None) -> str:
    """Exactly one ``Error:`` line and no traceback; returns the line."""
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    if expected is not None:
        assert lines[0] == expected, stderr
    return lines[0]
