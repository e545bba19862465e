"""The targets of a fleet run: where they come from, what each is called, which shard runs it.

A target is a database URL, a PostgreSQL schema (on the main database), or both.
Targets come from a file (``--targets``: one URL or ``schema=NAME`` per line, or JSON
lines with ``url``, ``schema``, ``name``), from a query on the main database
(``--targets-sql``), or from ``[asyncmig.fleet]`` (ini) / ``[tool.asyncmig.fleet]``
(pyproject.toml). Standard library only, except for the query.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..urls import DatabaseURL

#: The ini section and the pyproject.toml table a fleet's defaults are read from.
INI_SECTION = "asyncmig.fleet"
TOML_TABLE = ("tool", "asyncmig", "fleet")


@dataclass(frozen=True)
class Target:
    """One database or schema a fleet command runs on."""

    name: str
    #: The database URL (None: the main database, from the usual settings). Not in the
    #: repr: env.py may log :func:`asyncmig.env.current_target`, and the URL holds a password.
    url: str | None = field(default=None, repr=False)
    #: The PostgreSQL schema: the run's ``search_path`` and ``version_table_schema``.
    schema: str | None = None

    @property
    def masked_url(self) -> str | None:
        return DatabaseURL.parse(self.url).masked if self.url is not None else None

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(DatabaseURL.parse(self.url).secrets) if self.url is not None else ()


_CURRENT: contextvars.ContextVar[Target | None] = contextvars.ContextVar(
    "asyncmig_fleet_target", default=None
)


def current_target() -> Target | None:
    """The fleet target being migrated now (None outside a fleet run)."""
    return _CURRENT.get()


def set_current(target: Target | None) -> contextvars.Token[Target | None]:
    return _CURRENT.set(target)


def reset_current(token: contextvars.Token[Target | None]) -> None:
    _CURRENT.reset(token)


def _default_name(url: str | None, schema: str | None) -> str:
    if schema:
        return schema
    assert url is not None
    parsed = DatabaseURL.parse(url).url
    return parsed.database or DatabaseURL.parse(url).masked


def make_target(
    url: str | None = None, schema: str | None = None, name: str | None = None
) -> Target:
    """A target from its parts; its name defaults to the schema, then the database name."""
    if not url and not schema:
        raise ConfigError("a fleet target needs a url or a schema")
    url = url or None
    if url is not None:
        DatabaseURL.parse(url)  # a malformed URL is refused here, masked
    return Target(name=name or _default_name(url, schema), url=url, schema=schema or None)


def parse_line(line: str, where: str) -> Target | None:
    """One line of a targets file: a URL, ``schema=NAME``, or a JSON object; None if blank."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not a JSON object ({exc.msg})") from exc
        unknown = set(data) - {"url", "schema", "name"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        return _checked(where, data.get("url"), data.get("schema"), data.get("name"))
    if text.startswith("schema="):
        return _checked(where, None, text[len("schema=") :].strip(), None)
    if "://" in text:
        return _checked(where, text, None, None)
    raise ConfigError(f"{where}: expected a database URL, schema=NAME or a JSON object")


def _checked(where: str, url: Any, schema: Any, name: Any) -> Target:
    for key, value in (("url", url), ("schema", schema), ("name", name)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: {key} must be a non-empty string")
    try:
        return make_target(url, schema, name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def read_targets_file(path: str | os.PathLike[str]) -> list[Target]:
    """Every target of a targets file (``-``: standard input is not supported; name a file)."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the targets file {file}: {exc.strerror}") from exc
    found = [parse_line(line, f"{file.name}:{number}") for number, line in enumerate(lines, 1)]
    return [target for target in found if target is not None]


def targets_from_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[Target]:
    """Targets from a query's rows: columns named ``url``/``schema``/``name``, or one column
    of schema names."""
    names = [column.lower() for column in columns]
    known = {"url", "schema", "name"}
    if not known & set(names):
        if len(names) != 1:
            raise ConfigError(
                "--targets-sql: select one column of schema names, or columns named "
                "url, schema and name"
            )
        return [make_target(schema=str(row[0])) for row in rows if row[0] is not None]
    result = []
    for row in rows:
        values = {n: (str(v) if v is not None else None) for n, v in zip(names, row, strict=True)}
        result.append(make_target(values.get("url"), values.get("schema"), values.get("name")))
    return result


def query_targets(url: str, sql: str) -> list[Target]:
    """Run ``sql`` on the main database and read its rows as targets."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from ..failures import translate

    async def fetch() -> tuple[list[str], list[Sequence[Any]]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql))
                return list(result.keys()), [tuple(row) for row in result.fetchall()]
        finally:
            await engine.dispose()

    try:
        columns, rows = asyncio.run(fetch())
    except Exception as exc:
        raise translate(exc, command="fleet --targets-sql") from exc
    return targets_from_rows(columns, rows)


def check_unique(targets: Sequence[Target]) -> list[Target]:
    """Names identify targets (in the summary, the JSON and the shard hash): no two alike."""
    seen: set[str] = set()
    for target in targets:
        if target.name in seen:
            raise ConfigError(
                f"two fleet targets are named {target.name!r}: give them names "
                '(a JSON line {"url": ..., "name": ...})'
            )
        seen.add(target.name)
    return list(targets)


# -- the config ------------------------------------------------------------------------------
def read_config(ini_path: Path | None, toml_path: Path | None) -> dict[str, Any]:
    """``[asyncmig.fleet]`` of the ini file over ``[tool.asyncmig.fleet]`` of pyproject.toml:
    ``targets`` (lines), ``targets_file``, ``targets_sql``, ``jobs``."""
    from ..configfiles import ini_value, read_ini, read_toml

    found: dict[str, Any] = {}
    toml = toml_path or (Path("pyproject.toml") if Path("pyproject.toml").is_file() else None)
    if toml is not None:
        table: Any = read_toml(toml)
        for key in TOML_TABLE:
            table = table.get(key, {}) if isinstance(table, dict) else {}
        for key, value in table.items():
            found[key] = value
            if key == "targets_file":
                found[key] = str(toml.absolute().parent / str(value))
    if ini_path is not None:
        parser = read_ini(ini_path)
        if parser.has_section(INI_SECTION):
            for key in parser.options(INI_SECTION):
                if key == "here":
                    continue
                value = ini_value(parser, INI_SECTION, key, f"{ini_path.name}:[{INI_SECTION}]")
                found[key] = value.splitlines() if key == "targets" else value
                if key == "targets_file":
                    found[key] = str(ini_path.absolute().parent / value)
    unknown = set(found) - {"targets", "targets_file", "targets_sql", "jobs"}
    if unknown:
        raise ConfigError(f"[{INI_SECTION}]: unknown key(s) {', '.join(sorted(unknown))}")
    return found


def config_targets(config: Mapping[str, Any]) -> list[Target]:
    """The ``targets`` lines of the config (URLs, ``schema=NAME`` or JSON objects)."""
    lines = config.get("targets") or []
    if isinstance(lines, str):
        lines = lines.splitlines()
    result = []
    for number, line in enumerate(lines, 1):
        text = json.dumps(line) if isinstance(line, dict) else str(line)
        target = parse_line(text, f"[{INI_SECTION}] targets line {number}")
        if target is not None:
            result.append(target)
    return result


# -- shards ----------------------------------------------------------------------------------
def shard_of(name: str, count: int) -> int:
    """The shard a target belongs to: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (0 <= I < N)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ConfigError(f"--shard expects I/N (for example 0/4), got {text!r}") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard expects I/N with 0 <= I < N, got {text!r}")
    return i, n


def shard_from_env(count: int, environ: Mapping[str, str]) -> tuple[int, int]:
    """The shard of a Kubernetes Indexed Job's pod: ``JOB_COMPLETION_INDEX`` of ``count``."""
    text = environ.get("JOB_COMPLETION_INDEX")
    if text is None:
        raise ConfigError(
            "--shard-count needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), "
            "or give --shard I/N"
        )
    return parse_shard(f"{text.strip()}/{count}")


def select_shard(targets: Sequence[Target], shard: tuple[int, int] | None) -> list[Target]:
    if shard is None:
        return list(targets)
    index, count = shard
    return [target for target in targets if shard_of(target.name, count) == index]
