"""Where a run reports what happens while it happens (public API).

The CLI passes an implementation that prints progress; the async API is silent
unless the caller passes ``events=``.
"""

from __future__ import annotations

from typing import Protocol

from .results import Step


class Events(Protocol):
    """Receives notices (waiting, warnings) and each migration step as it is applied."""

    def notice(self, message: str) -> None: ...

    def step(self, step: Step, index: int, total: int | None) -> None: ...


class SilentEvents:
    """The API's default: report nothing."""

    def notice(self, message: str) -> None:
        pass

    def step(self, step: Step, index: int, total: int | None) -> None:
        pass
