"""The ``generic`` and ``async`` templates on MariaDB and SQLite (see test_templates)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .harness import Comparison
from .test_templates import template_lifecycle


@pytest.mark.parametrize("template", ["generic", "async"])
@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_template(
    template: str,
    dialect: str,
    compare: Callable[..., Comparison],
    generated: Callable[[str], Path],
) -> None:
    template_lifecycle(template, dialect, compare, generated)
