"""What a project silences or raises: ``[tool.asyncmig.lint]`` and ``# asyncmig: allow``.

``pyproject.toml``::

    [tool.asyncmig.lint]
    disable = ["rename-column", "prefer-bigint-over-int"]   # asyncmig's or squawk's rule ids
    error = ["require-concurrent-index-creation"]           # raise to error level
    warning = ["drop-table"]                                # lower to warning level
    squawk = true                                           # false: asyncmig's rules only
    pg_version = "15"                                       # squawk's --pg-version

A revision file silences rules for itself with a comment anywhere in it::

    # asyncmig: allow drop-column, rename-column
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_KEYS = ("disable", "error", "warning", "squawk", "pg_version")
_ALLOW = re.compile(r"#\s*asyncmig:\s*allow\b([^\n#]*)", re.IGNORECASE)
_RULE_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class LintConfig:
    disable: frozenset[str] = frozenset()
    #: Rule id -> the level the project gives it.
    levels: dict[str, str] = field(default_factory=dict)
    squawk: bool = True
    pg_version: str | None = None
    #: Where it was read from (None: defaults).
    source: Path | None = None


def pyproject_for(toml_file: Path | None, config_file: Path | None) -> Path | None:
    """The project's pyproject.toml: the one Alembic reads, else beside the ini file, else here."""
    candidates = [toml_file]
    if config_file is not None:
        candidates.append(config_file.parent / "pyproject.toml")
    candidates.append(Path("pyproject.toml"))
    return next((path for path in candidates if path is not None and path.is_file()), None)


def load(path: Path | None) -> LintConfig:
    """``[tool.asyncmig.lint]`` of ``path``; a wrong key or value is a ConfigError (exit 2)."""
    if path is None:
        return LintConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.asyncmig.lint]: {exc}") from None
    table = data.get("tool", {}).get("asyncmig", {}).get("lint")
    if table is None:
        return LintConfig()
    where = f"{path.name} [tool.asyncmig.lint]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    levels: dict[str, str] = {}
    for level in ("error", "warning"):
        for rule in _ids(table.get(level, []), f"{where} {level}"):
            if rule in levels:
                raise ConfigError(f"{where}: {rule} is listed under both error and warning")
            levels[rule] = level
    squawk = table.get("squawk", True)
    if not isinstance(squawk, bool):
        raise ConfigError(f"{where} squawk must be true or false")
    pg_version = table.get("pg_version")
    if pg_version is not None and not isinstance(pg_version, (str, int, float)):
        raise ConfigError(f'{where} pg_version must be a version such as "15"')
    return LintConfig(
        disable=frozenset(_ids(table.get("disable", []), f"{where} disable")),
        levels=levels,
        squawk=squawk,
        pg_version=None if pg_version is None else str(pg_version),
        source=path,
    )


def _ids(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where} must be a list of rule ids")
    return [item.strip() for item in value]


def allowed(source: str) -> set[str]:
    """The rule ids a revision file allows with ``# asyncmig: allow id, id``."""
    found: set[str] = set()
    for match in _ALLOW.finditer(source):
        found.update(_RULE_ID.findall(match.group(1)))
    return found
