"""Resolve every setting a run needs, and remember where each value came from.

Precedence, lowest to highest, for ``sqlalchemy.url``: config file <
``DATABASE_URL`` (for the default section only) < ``ASYNCMIG_URL`` < ``--url``.
Other ``sqlalchemy.*`` keys: config file < ``ASYNCMIG_SQLALCHEMY_<KEY>`` < ``--set``.
asyncmig's own options (:mod:`asyncmig.options`): flag < variable < ini key < default.
Environment variables come from the process, over env files (``--env-file``,
or ``./.env`` when present), which never override a variable already set.

No Alembic import here, so ``show-config`` stays fast and needs no database driver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .configfiles import (
    ALEMBIC_KEYS,
    DEFAULT_SECTION,
    PREFIX,
    Setting,
    find_config,
    load_environment,
    read_file_keys,
)
from .errors import ConfigError
from .options import Options, resolve_value, resolved_names, specs

if TYPE_CHECKING:
    from .urls import DatabaseURL

__all__ = [
    "ALEMBIC_KEYS",
    "DEFAULT_SECTION",
    "NULLPOOL_INCOMPATIBLE",
    "PREFIX",
    "URL_KEY",
    "Options",
    "Setting",
    "Settings",
    "no_url_message",
    "resolve",
]

URL_KEY = "sqlalchemy.url"

#: Arguments only QueuePool accepts; migrations run on NullPool, where they raise TypeError.
NULLPOOL_INCOMPATIBLE = frozenset({"pool_size", "max_overflow", "pool_timeout", "pool_use_lifo"})

_ENV_KEY_PREFIX = "ASYNCMIG_SQLALCHEMY_"


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
    #: asyncmig's own options (:mod:`asyncmig.options`): name -> (value, source).
    options: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=())
    #: The URL, parsed once (None when none is configured, or it is unusable).
    database_url: DatabaseURL | None = None
    #: Why the configured URL is unusable; raised only when env.py (or show-config) reads
    #: it, so ``history`` or ``revision`` work beside a placeholder like ``driver://``.
    url_error: ConfigError | None = None
    #: How the URL was chosen when a candidate was passed over (show-config prints these).
    url_notes: tuple[str, ...] = ()

    def option(self, name: str) -> Any:
        """The value of one of asyncmig's own options (``wait_timeout``, ...)."""
        return self.options[name][0]

    @property
    def wait_timeout(self) -> float:
        return float(self.option("wait_timeout") or 0.0)

    @property
    def lock_timeout(self) -> float:
        return float(self.option("lock_timeout") or 0.0)

    @property
    def statement_timeout(self) -> float | None:
        value = self.option("statement_timeout")
        return None if value is None else float(value)

    @property
    def pg_lock_timeout(self) -> float | None:
        value = self.option("pg_lock_timeout")
        return None if value is None else float(value)

    @property
    def url_notice(self) -> str | None:
        """Said when env.py first reads the URL: its synchronous driver was replaced."""
        return self.database_url.notice if self.database_url is not None else None

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


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (as given to ``--set``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} expects KEY=VALUE, got {text!r}")
    return key.strip(), value


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
    for item in options.get("set_options") or ():
        key, value = parse_assignment(item, "--set")
        if not key.startswith(PREFIX) or key == PREFIX:
            raise ConfigError(f"--set only takes sqlalchemy.* keys, got {key!r}")
        if key == URL_KEY:
            raise ConfigError("--set cannot set sqlalchemy.url: use --url")
        sqlalchemy[key] = Setting(key, value, "--set")
    url: Any = options.get("url")
    if url is not None:
        if not isinstance(url, str):  # a SQLAlchemy URL object, from the API
            url = url.render_as_string(hide_password=False)
        sqlalchemy[URL_KEY] = Setting(URL_KEY, url, "--url")


def _normalize_url_setting(
    sqlalchemy: dict[str, Setting], notes: list[str]
) -> tuple[DatabaseURL | None, tuple[str, ...], ConfigError | None]:
    """Put the async form of the URL in place; return it parsed, its secrets, any error."""
    from .urls import DatabaseURL, url_secrets

    if URL_KEY not in sqlalchemy:
        return None, (), None
    raw = sqlalchemy[URL_KEY]
    try:
        url = DatabaseURL.parse(raw.value)
    except ConfigError as exc:
        del sqlalchemy[URL_KEY]
        return None, tuple(sorted(url_secrets(raw.value))), exc
    if url.notice:
        notes.append(url.notice)
    sqlalchemy[URL_KEY] = Setting(URL_KEY, url.render(), raw.source)
    return url, tuple(sorted(url.secrets)), None


def _from_config_object(options: Options) -> Options:
    """An Alembic ``Config`` given as ``config=`` (the API): its files, section and URL."""
    config: Any = options.get("config")
    if config is None or isinstance(config, (str, os.PathLike, tuple, list)):
        return options
    resolved: Options = {**options}
    names = [n for n in (config.config_file_name, config.toml_file_name) if n]
    resolved["config"] = tuple(names) or None
    resolved["section"] = options.get("section") or config.config_ini_section
    if options.get("url") is None and config.config_file_name is None:
        resolved["url"] = config.get_main_option("sqlalchemy.url")
    return resolved


def resolve(options: Options | None = None) -> Settings:
    """Resolve config file, section, ``sqlalchemy.*`` keys and asyncmig's options, each
    with its source. ``options`` are the global options (:class:`asyncmig.options.Options`)."""
    options = _from_config_object(options or {})
    unknown = set(options) - set(specs())
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    cwd_given = options.get("cwd")
    cwd = Path(cwd_given) if cwd_given is not None else Path.cwd()
    environ_given = options.get("environ")
    environ = os.environ if environ_given is None else environ_given
    env_files = options.get("env_files")
    env = load_environment(environ, tuple(env_files) if env_files is not None else None, cwd)
    ini_path, toml_path, config_args = find_config(options.get("config"), env, cwd)  # type: ignore[arg-type]
    section = options.get("section") or DEFAULT_SECTION

    keys = read_file_keys(ini_path, toml_path, section, named=options.get("section") is not None)
    sqlalchemy = keys.sqlalchemy
    notes: list[str] = []
    _apply_overrides(sqlalchemy, env, options, section, notes)
    database_url, secrets, url_error = _normalize_url_setting(sqlalchemy, notes)
    dropped = tuple(
        setting
        for key, setting in sqlalchemy.items()
        if key[len(PREFIX) :] in NULLPOOL_INCOMPATIBLE
    )
    for setting in dropped:
        del sqlalchemy[setting.key]
    ini = {key: setting.value for key, setting in keys.asyncmig.items()}
    values = {name: resolve_value(name, options.get(name), env, ini) for name in resolved_names()}
    return Settings(
        config_file=ini_path,
        toml_file=toml_path,
        section=section,
        config_args=config_args,
        sqlalchemy=sqlalchemy,
        dropped=dropped,
        alembic=keys.alembic,
        x_args=tuple(options.get("x") or ()),
        options=values,
        secrets=secrets,
        database_url=database_url,
        url_error=url_error,
        url_notes=tuple(notes),
    )
