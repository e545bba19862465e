"""Resolve every setting a run needs, and remember where each value came from.

Precedence, lowest to highest, for ``sqlalchemy.url``:
config file < ``DATABASE_URL`` < ``ASYNCMIG_URL`` < ``--url``.
Other ``sqlalchemy.*`` keys: config file < ``ASYNCMIG_SQLALCHEMY_<KEY>`` < ``--set``.
Environment variables come from the process, over env files (``--env-file``,
or ``./.env`` when present), which never override a variable already set.

This module reads files with the standard library only (no Alembic import), so
``show-config`` stays fast and needs no database driver.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

URL_KEY = "sqlalchemy.url"
DEFAULT_SECTION = "alembic"
PREFIX = "sqlalchemy."

#: Arguments only QueuePool accepts; migrations run on NullPool, where they raise TypeError.
NULLPOOL_INCOMPATIBLE = frozenset({"pool_size", "max_overflow", "pool_timeout", "pool_use_lifo"})

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

DEFAULT_WAIT_TIMEOUT = 5.0
DEFAULT_LOCK_TIMEOUT = 300.0

#: asyncmig's own knobs: (setting name, environment variable, ini key, default).
_TIMEOUTS: tuple[tuple[str, str, str, float | None], ...] = (
    ("wait_timeout", "ASYNCMIG_WAIT_TIMEOUT", "asyncmig.wait_timeout", DEFAULT_WAIT_TIMEOUT),
    ("lock_timeout", "ASYNCMIG_LOCK_TIMEOUT", "asyncmig.lock_timeout", DEFAULT_LOCK_TIMEOUT),
    ("statement_timeout", "ASYNCMIG_STATEMENT_TIMEOUT", "asyncmig.statement_timeout", None),
    ("pg_lock_timeout", "ASYNCMIG_PG_LOCK_TIMEOUT", "asyncmig.pg_lock_timeout", None),
)

_ENV_KEY_PREFIX = "ASYNCMIG_SQLALCHEMY_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\s*$")


@dataclass(frozen=True)
class Options:
    """What the caller asked for: the CLI's global flags, or the API's keyword arguments.

    ``None`` means "not given": the environment and the config file decide.
    """

    #: ``-c``: an ini file, a pyproject.toml, or one of each (as Alembic's repeated ``-c``).
    config_file: str | os.PathLike[str] | tuple[str | os.PathLike[str], ...] | None = None
    section: str | None = None
    x_args: tuple[str, ...] = ()
    url: str | None = None
    set_options: tuple[str, ...] = ()
    env_files: tuple[str | os.PathLike[str], ...] | None = None
    wait_timeout: float | None = None
    lock_timeout: float | None = None
    statement_timeout: float | None = None
    pg_lock_timeout: float | None = None
    cwd: str | os.PathLike[str] | None = None
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Setting:
    """One resolved key: its value and a human label of where it came from."""

    key: str
    value: str
    source: str


@dataclass(frozen=True)
class Settings:
    """Everything resolved for one run. Build it with :func:`resolve`."""

    config_file: Path | None
    toml_file: Path | None
    section: str
    #: The ``-c`` values as given, for ``config.cmd_opts.config``.
    config_args: tuple[str, ...]
    sqlalchemy: Mapping[str, Setting]
    dropped: tuple[Setting, ...]
    alembic: Mapping[str, Setting]
    x_args: tuple[str, ...]
    wait_timeout: float
    lock_timeout: float
    statement_timeout: float | None
    pg_lock_timeout: float | None
    secrets: tuple[str, ...] = field(default=())
    #: Why the configured URL is unusable; raised only when env.py (or show-config) reads
    #: it, so ``history`` or ``revision`` work beside a placeholder like ``driver://``.
    url_error: ConfigError | None = None
    #: How the URL was chosen when a candidate was passed over (show-config prints these).
    url_notes: tuple[str, ...] = ()
    #: Printed when the run starts: the URL's synchronous driver was replaced.
    url_notice: str | None = None

    @property
    def url(self) -> str | None:
        """The normalised URL with its real password, or None when none is configured."""
        setting = self.sqlalchemy.get(URL_KEY)
        return setting.value if setting else None

    def require_url(self) -> str:
        """The URL, or a :class:`ConfigError` that says where to set one."""
        if self.url_error is not None:
            raise self.url_error
        if self.url is None:
            raise ConfigError(no_url_message(self.section))
        return self.url

    @property
    def engine_options(self) -> dict[str, str]:
        """The ``sqlalchemy.*`` keys (prefix kept) handed to env.py as its config section."""
        return {key: setting.value for key, setting in self.sqlalchemy.items()}


def no_url_message(section: str = DEFAULT_SECTION) -> str:
    """The one line for a run that needs a database URL and has none."""
    if section == DEFAULT_SECTION:
        where = "set sqlalchemy.url in the config file, DATABASE_URL or ASYNCMIG_URL"
    else:  # DATABASE_URL is the application's database, never a named section's
        where = f"set sqlalchemy.url in [{section}] of the config file or ASYNCMIG_URL"
    return f"no database URL: {where}, or pass --url"


def parse_duration(text: str, what: str) -> float:
    """Seconds from ``30``, ``2.5s``, ``500ms`` or ``5min``."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{what}: {text!r} is not a duration (use 30, 2.5s, 500ms or 5min)")
    value = float(match.group(1))
    unit = match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "min" else value


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (as given to ``-x`` or ``--set``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} expects KEY=VALUE, got {text!r}")
    return key.strip(), value


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


def _is_toml(path: str | os.PathLike[str]) -> bool:
    return Path(path).name == "pyproject.toml" or Path(path).suffix == ".toml"


def _find_config(
    options: Options, env: Mapping[str, tuple[str, str]], cwd: Path
) -> tuple[Path | None, Path | None, tuple[str, ...]]:
    """The ini file and the pyproject.toml to read, as Alembic's command line picks them.

    ``-c`` may be given twice (an ini and a pyproject.toml); what it leaves out
    comes from ``ALEMBIC_CONFIG``, else ``alembic.ini`` and ``pyproject.toml`` in
    the working directory. Unlike Alembic, a file named explicitly must exist.
    """
    given = options.config_file
    names: tuple[str | os.PathLike[str], ...] = (
        () if given is None else given if isinstance(given, tuple) else (given,)
    )
    ini_name: str | os.PathLike[str] | None = None
    toml_name: str | os.PathLike[str] | None = None
    for name in names:
        if _is_toml(name):
            if toml_name is not None:
                raise ConfigError("pyproject.toml given more than once with -c/--config")
            toml_name = name
        else:
            if ini_name is not None:
                raise ConfigError("only one ini file may be given with -c/--config")
            ini_name = name
    from_env = env["ALEMBIC_CONFIG"][0] if "ALEMBIC_CONFIG" in env else None
    if from_env:
        if _is_toml(from_env):
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
    if toml is not None and not _has_tool_alembic(toml):
        if toml_name is not None and str(toml_name) in explicit and ini is None:
            raise ConfigError(f"{toml_name} has no [tool.alembic] table")
        toml = None
    if ini is None and toml is None:
        raise ConfigError(
            f"no alembic.ini or pyproject.toml [tool.alembic] in {cwd}: "
            "run 'asyncmig init migrations' or pass -c/--config"
        )
    return ini, toml, tuple(str(name) for name in names)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path.name}: {exc.strerror}") from exc


def _has_tool_alembic(path: Path) -> bool:
    return path.is_file() and "alembic" in _read_toml(path).get("tool", {})


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


def _ini_value(parser: configparser.ConfigParser, section: str, key: str, label: str) -> str:
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
class _FileKeys:
    """What the config file(s) say, split by who reads it."""

    sqlalchemy: dict[str, Setting] = field(default_factory=dict)
    asyncmig: dict[str, Setting] = field(default_factory=dict)
    alembic: dict[str, Setting] = field(default_factory=dict)


def _read_file_keys(
    ini_path: Path | None, toml_path: Path | None, section: str, options: Options
) -> _FileKeys:
    """Keys from pyproject.toml [tool.alembic], then the ini section (which wins)."""
    keys = _FileKeys()
    if toml_path is not None:
        tool = _read_toml(toml_path).get("tool", {}).get("alembic", {})
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
            target[key] = Setting(key, _ini_value(parser, section, key, label), label)
    elif options.section not in (None, DEFAULT_SECTION):
        raise ConfigError(f"-n/--name {options.section} needs an ini file; none is in use")

    if "script_location" not in keys.alembic:
        where = ini_path.name if ini_path else toml_path.name if toml_path else "the config"
        raise ConfigError(
            f"no script_location in {where}: set script_location under "
            f"[{section}] in alembic.ini or [tool.alembic] in pyproject.toml"
        )
    return keys


def _apply_overrides(
    sqlalchemy: dict[str, Setting],
    env: Mapping[str, tuple[str, str]],
    options: Options,
    section: str,
    notes: list[str],
) -> None:
    """Environment over the file, flags over the environment (the documented precedence)."""
    for name in ("DATABASE_URL", "ASYNCMIG_URL"):
        if name in env and env[name][0].strip():
            if name == "DATABASE_URL" and section != DEFAULT_SECTION:
                # The application's database is not the one a named section migrates.
                notes.append(
                    f"DATABASE_URL is not used for section [{section}]: it applies to "
                    f"[{DEFAULT_SECTION}] only (--url and ASYNCMIG_URL apply to any section)"
                )
                continue
            sqlalchemy[URL_KEY] = Setting(URL_KEY, env[name][0], env[name][1])
    for name, (value, label) in sorted(env.items()):
        if name.startswith(_ENV_KEY_PREFIX) and len(name) > len(_ENV_KEY_PREFIX):
            key = PREFIX + name[len(_ENV_KEY_PREFIX) :].lower()
            sqlalchemy[key] = Setting(key, value, label)
    for item in options.set_options:
        key, value = parse_assignment(item, "--set")
        if not key.startswith(PREFIX) or key == PREFIX:
            raise ConfigError(f"--set only takes sqlalchemy.* keys, got {key!r}")
        if key == URL_KEY:
            raise ConfigError("--set cannot set sqlalchemy.url: use --url")
        sqlalchemy[key] = Setting(key, value, "--set")
    if options.url is not None:
        url: Any = options.url
        if not isinstance(url, str):  # a SQLAlchemy URL object, from the API
            url = url.render_as_string(hide_password=False)
        sqlalchemy[URL_KEY] = Setting(URL_KEY, url, "--url")


def _normalize_url_setting(
    sqlalchemy: dict[str, Setting], notes: list[str]
) -> tuple[tuple[str, ...], ConfigError | None, str | None]:
    """Put the async form of the URL in place; return its secrets, any URL error, and the
    notice to print when a synchronous driver was replaced."""
    from .urls import DatabaseURL, url_secrets

    if URL_KEY not in sqlalchemy:
        return (), None, None
    raw = sqlalchemy[URL_KEY]
    try:
        url = DatabaseURL.parse(raw.value)
    except ConfigError as exc:
        del sqlalchemy[URL_KEY]
        return tuple(sorted(url_secrets(raw.value))), exc, None
    if url.notice:
        notes.append(url.notice)
    sqlalchemy[URL_KEY] = Setting(URL_KEY, url.render(), raw.source)
    return tuple(sorted(url.secrets)), None, url.notice


#: PostgreSQL keeps statement_timeout and lock_timeout as a 32-bit count of milliseconds.
_PG_MAX_MS = 2_147_483_647
_SERVER_DURATIONS = ("statement_timeout", "pg_lock_timeout")


def _check_server_duration(seconds: float, label: str) -> None:
    """A duration PostgreSQL will take as meant: 0 is "no limit", so 0 < d < 1 ms is refused."""
    ms = seconds * 1000
    if 0 < ms < 1:
        raise ConfigError(
            f"{label}: {ms:g}ms is below PostgreSQL's resolution of 1ms "
            "(it would round to 0, which PostgreSQL reads as no limit)"
        )
    if ms > _PG_MAX_MS:
        raise ConfigError(
            f"{label}: {seconds:.0f}s is above PostgreSQL's maximum of {_PG_MAX_MS}ms "
            "(about 24.8 days)"
        )


def _timeouts(
    options: Options, env: Mapping[str, tuple[str, str]], ini_keys: Mapping[str, Setting]
) -> dict[str, float | None]:
    """Each timeout from its flag, else its variable, else its ini key, else the default."""
    timeouts: dict[str, float | None] = {}
    for name, var, ini_key, default in _TIMEOUTS:
        given: float | None = getattr(options, name)
        label = "--" + name.replace("_", "-")
        if given is None and var in env:
            given, label = parse_duration(env[var][0], var), var
        if given is None and ini_key in ini_keys:
            given, label = parse_duration(ini_keys[ini_key].value, ini_key), ini_key
        if given is not None and given < 0:
            raise ConfigError(f"{label} must not be negative")
        if given is not None and name in _SERVER_DURATIONS:
            _check_server_duration(given, label)
        timeouts[name] = default if given is None else given
    return timeouts


def resolve(options: Options) -> Settings:
    """Resolve config file, section, ``sqlalchemy.*`` keys and timeouts with their sources."""
    cwd = Path(options.cwd) if options.cwd is not None else Path.cwd()
    environ = os.environ if options.environ is None else options.environ
    env = load_environment(environ, options.env_files, cwd)
    ini_path, toml_path, config_args = _find_config(options, env, cwd)
    section = options.section or DEFAULT_SECTION

    keys = _read_file_keys(ini_path, toml_path, section, options)
    sqlalchemy = keys.sqlalchemy
    notes: list[str] = []
    _apply_overrides(sqlalchemy, env, options, section, notes)
    secrets, url_error, url_notice = _normalize_url_setting(sqlalchemy, notes)
    dropped = tuple(
        setting
        for key, setting in sqlalchemy.items()
        if key[len(PREFIX) :] in NULLPOOL_INCOMPATIBLE
    )
    for setting in dropped:
        del sqlalchemy[setting.key]
    timeouts = _timeouts(options, env, keys.asyncmig)

    return Settings(
        config_file=ini_path,
        toml_file=toml_path,
        section=section,
        config_args=config_args,
        sqlalchemy=sqlalchemy,
        dropped=dropped,
        alembic=keys.alembic,
        x_args=tuple(options.x_args),
        wait_timeout=timeouts["wait_timeout"] or 0.0,
        lock_timeout=timeouts["lock_timeout"] or 0.0,
        statement_timeout=timeouts["statement_timeout"],
        pg_lock_timeout=timeouts["pg_lock_timeout"],
        secrets=secrets,
        url_error=url_error,
        url_notes=tuple(notes),
        url_notice=url_notice,
    )
