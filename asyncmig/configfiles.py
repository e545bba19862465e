"""Finding and reading the config files, as Alembic's command line does.

``alembic.ini`` and/or ``pyproject.toml [tool.alembic]`` (or what ``-c`` and
``ALEMBIC_CONFIG`` name), env files, and the keys of one ini section split by
who reads them. Standard library only (no Alembic, no SQLAlchemy), so
``show-config`` and ``--help`` stay fast.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PREFIX = "sqlalchemy."
DEFAULT_SECTION = "alembic"

#: Alembic's own keys, reported by show-config when set.
ALEMBIC_KEYS = (
    "script_location",
    "version_locations",
    "path_separator",
    "version_path_separator",
    "prepend_sys_path",
    "file_template",
    "timezone",
    "truncate_slug_length",
    "revision_environment",
    "sourceless",
    "output_encoding",
    "recursive_version_locations",
)


@dataclass(frozen=True)
class Setting:
    """One resolved key: its value and a human label of where it came from."""

    key: str
    value: str
    source: str


def load_environment(
    environ: Mapping[str, str], env_files: tuple[str | os.PathLike[str], ...] | None, cwd: Path
) -> dict[str, tuple[str, str]]:
    """Variables and a label of their origin; the process environment wins over env files."""
    if env_files is None:
        default = cwd / ".env"
        files: tuple[str | os.PathLike[str], ...] = (".env",) if default.is_file() else ()
    else:
        files = env_files
    merged: dict[str, tuple[str, str]] = {}
    for name in files:
        path = Path(name) if Path(name).is_absolute() else cwd / name
        if not path.is_file():
            raise ConfigError(f"env file {name} not found")
        from dotenv import dotenv_values  # only when there is a file to read

        for key, value in dotenv_values(path).items():
            if value is not None:
                merged[key] = (value, f"{name} {key}")
    for key, value in environ.items():
        merged[key] = (value, f"env {key}")
    return merged


def is_toml(path: str | os.PathLike[str]) -> bool:
    return Path(path).name == "pyproject.toml" or Path(path).suffix == ".toml"


def find_config(
    given: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    env: Mapping[str, tuple[str, str]],
    cwd: Path,
) -> tuple[Path | None, Path | None, tuple[str, ...]]:
    """The ini file and the pyproject.toml to read, as Alembic's command line picks them.

    ``-c`` may be given twice (an ini and a pyproject.toml); what it leaves out
    comes from ``ALEMBIC_CONFIG``, else ``alembic.ini`` and ``pyproject.toml`` in
    the working directory. Unlike Alembic, a file named explicitly must exist.
    """
    names: tuple[str | os.PathLike[str], ...] = (
        () if given is None else (given,) if isinstance(given, (str, os.PathLike)) else tuple(given)
    )
    ini_name: str | os.PathLike[str] | None = None
    toml_name: str | os.PathLike[str] | None = None
    for name in names:
        if is_toml(name):
            if toml_name is not None:
                raise ConfigError("pyproject.toml given more than once with -c/--config")
            toml_name = name
        else:
            if ini_name is not None:
                raise ConfigError("only one ini file may be given with -c/--config")
            ini_name = name
    from_env = env["ALEMBIC_CONFIG"][0] if "ALEMBIC_CONFIG" in env else None
    if from_env:
        if is_toml(from_env):
            toml_name = toml_name or from_env
        else:
            ini_name = ini_name or from_env
    explicit = {str(name) for name in (*names, *([from_env] if from_env else []))}

    def locate(name: str | os.PathLike[str] | None, default: str) -> Path | None:
        path = cwd / (name if name is not None else default)
        if path.is_file():
            return path
        if name is not None and str(name) in explicit:
            raise ConfigError(f"config file {name} not found")
        return None

    ini = locate(ini_name, "alembic.ini")
    toml = locate(toml_name, "pyproject.toml")
    if toml is not None and not has_tool_alembic(toml):
        if toml_name is not None and str(toml_name) in explicit and ini is None:
            raise ConfigError(f"{toml_name} has no [tool.alembic] table")
        toml = None
    if ini is None and toml is None:
        raise ConfigError(
            f"no alembic.ini or pyproject.toml [tool.alembic] in {cwd}: "
            "run 'asyncmig init migrations' or pass -c/--config"
        )
    return ini, toml, tuple(str(name) for name in names)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path.name}: {exc.strerror}") from exc


def has_tool_alembic(path: Path) -> bool:
    return path.is_file() and "alembic" in read_toml(path).get("tool", {})


def read_ini(path: Path) -> configparser.ConfigParser:
    """Parse the ini as Alembic does (``%(here)s`` is the file's directory)."""
    parser = configparser.ConfigParser({"here": str(path.absolute().parent)})
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path.name} is not a valid ini file: {first}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path.name}: {getattr(exc, 'strerror', exc)}") from exc
    return parser


def ini_value(parser: configparser.ConfigParser, section: str, key: str, label: str) -> str:
    """The interpolated value; errors never quote it (it may hold a password)."""
    try:
        return parser.get(section, key)
    except configparser.InterpolationSyntaxError as exc:
        raise ConfigError(
            f"{label} {key}: a literal '%' must be written '%%' in the ini file "
            "(or set the value from the environment or a flag)"
        ) from exc
    except configparser.InterpolationMissingOptionError as exc:
        raise ConfigError(f"{label} {key}: %({exc.reference})s is not defined") from exc
    except configparser.Error as exc:
        raise ConfigError(f"{label} {key}: {str(exc).splitlines()[0]}") from exc


@dataclass
class FileKeys:
    """What the config file(s) say, split by who reads it."""

    sqlalchemy: dict[str, Setting] = field(default_factory=dict)
    asyncmig: dict[str, Setting] = field(default_factory=dict)
    alembic: dict[str, Setting] = field(default_factory=dict)


def read_file_keys(
    ini_path: Path | None, toml_path: Path | None, section: str, *, named: bool
) -> FileKeys:
    """Keys from pyproject.toml [tool.alembic], then the ini section (which wins)."""
    keys = FileKeys()
    if toml_path is not None:
        tool = read_toml(toml_path).get("tool", {}).get("alembic", {})
        label = f"{toml_path.name}:[tool.alembic]"
        here = str(toml_path.absolute().parent)
        for key in ALEMBIC_KEYS:
            if key in tool:
                value = tool[key]
                text = " ".join(value) if isinstance(value, list) else str(value)
                keys.alembic[key] = Setting(key, text.replace("%(here)s", here), label)

    if ini_path is not None:
        parser = read_ini(ini_path)
        label = f"{ini_path.name}:[{section}]"
        if not parser.has_section(section):
            raise ConfigError(f"no section [{section}] in {ini_path.name}: check -n/--name")
        for key in parser.options(section):
            if key == "here" and key in parser.defaults():
                continue
            if key.startswith(PREFIX):
                target = keys.sqlalchemy
            elif key.startswith("asyncmig."):
                target = keys.asyncmig
            elif key in ALEMBIC_KEYS:
                target = keys.alembic
            else:
                continue
            target[key] = Setting(key, ini_value(parser, section, key, label), label)
    elif named and section != DEFAULT_SECTION:
        raise ConfigError(f"-n/--name {section} needs an ini file; none is in use")

    if "script_location" not in keys.alembic:
        where = ini_path.name if ini_path else toml_path.name if toml_path else "the config"
        raise ConfigError(
            f"no script_location in {where}: set script_location under "
            f"[{section}] in alembic.ini or [tool.alembic] in pyproject.toml"
        )
    return keys
