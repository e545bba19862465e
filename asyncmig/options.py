"""The global options, each defined once.

:class:`Options` is the one declaration: each key is an option of the API's
functions (``await asyncmig.upgrade(wait_timeout=10)``) and, through its
:class:`Spec`, a global flag of the CLI (``asyncmig --wait-timeout 10 upgrade``),
an environment variable and an ``asyncmig.*`` ini key. From it derive

* the Typer options of the CLI's callback (:func:`asyncmig.cli` builds its signature);
* the API's typed keyword arguments (``**options: Unpack[Options]``);
* the resolution "flag > variable > ini key > default" (:func:`asyncmig.settings.resolve`);
* the rows of ``show-config``'s ``asyncmig`` table, and the docs test.

Adding an option is one entry here plus the code that uses its value
(``settings.option("name")``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypedDict, get_args, get_type_hints

from .errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\s*$")

#: PostgreSQL keeps statement_timeout and lock_timeout as a 32-bit count of milliseconds.
PG_MAX_MS = 2_147_483_647


class Duration(float):
    """Seconds, remembering the text they were read from (``100000min``), so that an
    error about the value quotes what the user wrote."""

    text: str

    def __new__(cls, seconds: float, text: str) -> Duration:
        value = super().__new__(cls, seconds)
        value.text = text
        return value


def parse_duration(text: str, label: str) -> float:
    """Seconds from ``30``, ``2.5s``, ``500ms`` or ``5min``; never negative."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{label}: {text!r} is not a duration (use 30, 2.5s, 500ms or 5min)")
    value = float(match.group(1))
    unit = match.group(2) or "s"
    seconds = value / 1000 if unit == "ms" else value * 60 if unit == "min" else value
    return Duration(seconds, str(text).strip())


def _as_given(seconds: float, exact: str) -> str:
    """``0.5ms`` as written, or ``0.0001 (0.1ms)`` when the text said it otherwise."""
    given = getattr(seconds, "text", None)
    return exact if given in (None, exact) else f"{given} ({exact})"


def check_duration(seconds: float, label: str) -> float:
    """A duration given as a number (the API's keyword arguments)."""
    if seconds < 0:
        raise ConfigError(f"{label} must not be negative")
    return seconds


def check_server_duration(seconds: float, label: str) -> float:
    """A duration PostgreSQL takes as meant: 0 is "no limit", so 0 < d < 1 ms is refused."""
    check_duration(seconds, label)
    ms = seconds * 1000
    if 0 < ms < 1:
        raise ConfigError(
            f"{label}: {_as_given(seconds, f'{ms:g}ms')} is below PostgreSQL's resolution of 1ms "
            "(it would round to 0, which PostgreSQL reads as no limit)"
        )
    if ms > PG_MAX_MS:
        raise ConfigError(
            f"{label}: {_as_given(seconds, f'{seconds:.0f}s')} is above PostgreSQL's maximum "
            f"of {PG_MAX_MS}ms (about 24.8 days)"
        )
    return seconds


def parse_bool(text: str, label: str) -> bool:
    """``true``/``false`` and their usual spellings."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{label}: {text!r} is not true or false")


def check_application_name(name: str, label: str) -> str:
    """PostgreSQL truncates at 63 bytes and refuses nothing; a line break would garble logs."""
    if not name or any(ch in name for ch in "\r\n\0"):
        raise ConfigError(f"{label}: {name!r} is not an application name")
    return name


#: Where CI systems and hosting platforms put the commit being deployed (``--deploy-id``'s
#: default), in the order they are looked at.
CI_COMMIT_VARIABLES = (
    "GITHUB_SHA",  # GitHub Actions
    "CI_COMMIT_SHA",  # GitLab CI
    "BITBUCKET_COMMIT",  # Bitbucket Pipelines
    "CIRCLE_SHA1",  # CircleCI
    "BUILDKITE_COMMIT",  # Buildkite
    "DRONE_COMMIT_SHA",  # Drone, Woodpecker
    "TRAVIS_COMMIT",  # Travis CI
    "BUILD_SOURCEVERSION",  # Azure Pipelines
    "CODEBUILD_RESOLVED_SOURCE_VERSION",  # AWS CodeBuild
    "GIT_COMMIT",  # Jenkins
    "SOURCE_VERSION",  # Heroku
    "RENDER_GIT_COMMIT",  # Render
    "RAILWAY_GIT_COMMIT_SHA",  # Railway
    "VERCEL_GIT_COMMIT_SHA",  # Vercel
)


@dataclass(frozen=True)
class Spec:
    """How one option is spelled and read outside Python."""

    #: CLI flags (``("-c", "--config")``); empty for API-only options.
    flags: tuple[str, ...]
    help: str
    #: The variable it is read from when the flag is not given (resolved by asyncmig).
    env: str | None = None
    #: The ``asyncmig.*`` key of the ini section it is read from after the variable.
    ini: str | None = None
    #: The value when nothing sets it.
    default: Any = None
    #: Turns the text of a flag, variable or ini key into the value (``text, label``).
    parse: Callable[[str, str], Any] | None = None
    #: Checks a value given as such (the API's keyword arguments), after ``parse``.
    check: Callable[[Any, str], Any] | None = None
    #: The CLI parameter's kind: ``str``, ``list`` (repeatable), ``bool``, or ``off`` (a flag
    #: such as ``--no-history`` that sets a default-true option to False).
    cli: str = "str"
    #: Shown in show-config's ``asyncmig`` table.
    shown: bool = False
    #: Which commands it matters for, as the docs say it.
    applies_to: str = "every command"
    #: The variable is documented but resolved elsewhere (``ALEMBIC_CONFIG``, URL variables).
    env_note: str | None = None
    #: Variables read after ``env`` when it is unset (CI systems' commit variables).
    fallback_env: tuple[str, ...] = ()


def _spec(*parts: Any) -> Spec:
    (found,) = (part for part in parts if isinstance(part, Spec))
    return found


class Options(TypedDict, total=False):
    """Where the project and database are, and how long to wait: the global options.

    ``None`` (or leaving a key out) lets the environment and the config file decide.
    """

    config: Annotated[
        str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Config | None,
        Spec(
            ("-c", "--config"),
            "Config file: alembic.ini or pyproject.toml; give both with -c twice. The API "
            "also takes an Alembic Config object.",
            cli="list",
            env_note="ALEMBIC_CONFIG",
        ),
    ]
    section: Annotated[
        str | None,
        Spec(("-n", "--name"), "Ini section to use (default: alembic)."),
    ]
    x: Annotated[
        Sequence[str],
        Spec(("-x",), "KEY=VALUE or WORD for env.py's context.get_x_argument(); repeatable.",
             cli="list"),
    ]  # fmt: skip
    url: Annotated[
        str | URL | None,
        Spec(
            ("--url",),
            "Database URL; beats ASYNCMIG_URL, DATABASE_URL and the config file.",
            env_note="ASYNCMIG_URL, DATABASE_URL",
        ),
    ]
    set_options: Annotated[
        Sequence[str],
        Spec(("--set",), "sqlalchemy.KEY=VALUE engine option; repeatable.", cli="list",
             env_note="ASYNCMIG_SQLALCHEMY_<KEY>"),
    ]  # fmt: skip
    env_files: Annotated[
        Sequence[str | os.PathLike[str]] | None,
        Spec(("--env-file",), "Read variables from this file (default: ./.env if present); "
             "repeatable.", cli="list"),
    ]  # fmt: skip
    wait_timeout: Annotated[
        float | None,
        Spec(
            ("--wait-timeout",),
            "Seconds to wait for the database, each connect try included (default 5; 0: one "
            "try of at most 2 s).",
            env="ASYNCMIG_WAIT_TIMEOUT",
            ini="asyncmig.wait_timeout",
            default=5.0,
            parse=parse_duration,
            check=check_duration,
            shown=True,
            applies_to="commands that connect",
        ),
    ]
    lock_timeout: Annotated[
        float | None,
        Spec(
            ("--lock-timeout",),
            "Seconds to wait for the migration lock (default 300).",
            env="ASYNCMIG_LOCK_TIMEOUT",
            ini="asyncmig.lock_timeout",
            default=300.0,
            parse=parse_duration,
            check=check_duration,
            shown=True,
            applies_to="upgrade, downgrade, stamp, ensure-version",
        ),
    ]
    statement_timeout: Annotated[
        float | None,
        Spec(
            ("--statement-timeout",),
            "Statement timeout of the migration (PostgreSQL statement_timeout, MariaDB "
            "max_statement_time); the client gives up 2 s later (30s, 500ms; 0: no limit).",
            env="ASYNCMIG_STATEMENT_TIMEOUT",
            ini="asyncmig.statement_timeout",
            parse=parse_duration,
            check=check_server_duration,
            shown=True,
            applies_to="commands that connect, on PostgreSQL and MySQL/MariaDB",
        ),
    ]
    pg_lock_timeout: Annotated[
        float | None,
        Spec(
            ("--pg-lock-timeout",),
            "PostgreSQL lock_timeout for the migration (10s; 0: no limit).",
            env="ASYNCMIG_PG_LOCK_TIMEOUT",
            ini="asyncmig.pg_lock_timeout",
            parse=parse_duration,
            check=check_server_duration,
            shown=True,
            applies_to="commands that connect, on PostgreSQL",
        ),
    ]
    application_name: Annotated[
        str | None,
        Spec(
            ("--application-name",),
            "PostgreSQL application_name of asyncmig's sessions, unless the URL sets one "
            "(default asyncmig).",
            env="ASYNCMIG_APPLICATION_NAME",
            ini="asyncmig.application_name",
            default="asyncmig",
            check=check_application_name,
            shown=True,
            applies_to="commands that connect, on PostgreSQL",
        ),
    ]
    revision_index: Annotated[
        bool | None,
        Spec(
            (),
            "Read the revision map from an index of the versions folder instead of "
            "importing every revision file (default true).",
            env="ASYNCMIG_REVISION_INDEX",
            ini="asyncmig.revision_index",
            default=True,
            parse=parse_bool,
            applies_to="commands that read the revision files",
        ),
    ]
    history: Annotated[
        bool | None,
        Spec(
            ("--no-history",),
            "Record each step in the asyncmig_history table (default true; --no-history: do not).",
            env="ASYNCMIG_HISTORY",
            ini="asyncmig.history",
            default=True,
            parse=parse_bool,
            cli="off",
            shown=True,
            applies_to="upgrade, downgrade, stamp",
        ),
    ]
    deploy_id: Annotated[
        str | None,
        Spec(
            ("--deploy-id",),
            "The deploy recorded with each step in the history (default: the commit of the "
            "CI run: GITHUB_SHA, CI_COMMIT_SHA, ...).",
            env="ASYNCMIG_DEPLOY_ID",
            fallback_env=CI_COMMIT_VARIABLES,
            shown=True,
            applies_to="upgrade, downgrade, stamp",
        ),
    ]
    fast_path: Annotated[
        bool | None,
        Spec(
            (),
            "Answer a no-op upgrade head, status and current from a connect and one query "
            "when a previous run recorded how env.py connects (default true).",
            env="ASYNCMIG_FAST_PATH",
            ini="asyncmig.fast_path",
            default=True,
            parse=parse_bool,
            applies_to="upgrade head, status, current (command line only)",
        ),
    ]
    cwd: Annotated[
        str | os.PathLike[str] | None,
        Spec((), "API only: the directory to find the config in (default: the process's)."),
    ]
    environ: Annotated[
        Mapping[str, str] | None,
        Spec((), "API only: the variables to read instead of os.environ."),
    ]


@functools.cache
def specs() -> dict[str, Spec]:
    """Every option's :class:`Spec`, by name, in declaration order."""
    # Only the Annotated metadata is wanted: the types named for type checkers alone
    # stand in as Any, so reading the specs imports neither Alembic nor SQLAlchemy.
    hints = get_type_hints(Options, localns={"Config": Any, "URL": Any}, include_extras=True)
    return {name: _spec(*get_args(hint)[1:]) for name, hint in hints.items()}


def resolve_value(
    name: str, given: Any, env: Mapping[str, tuple[str, str]], ini: Mapping[str, str]
) -> tuple[Any, str]:
    """An option's value and where it came from: the argument, the variable, the ini key,
    the default, in that order (for options with a variable or an ini key)."""
    spec = specs()[name]
    label = spec.flags[-1] if spec.flags else name
    if given is not None:
        check = spec.check or (lambda value, _: value)
        return check(given, label), label
    if spec.env and spec.env in env:
        text, source = env[spec.env]
        return _read(spec, text, spec.env), source
    for variable in spec.fallback_env:
        if env.get(variable, ("", ""))[0]:
            text, source = env[variable]
            return _read(spec, text, variable), source
    if spec.ini and spec.ini in ini:
        return _read(spec, ini[spec.ini], spec.ini), spec.ini
    return spec.default, "default"


def _read(spec: Spec, text: str, label: str) -> Any:
    value = spec.parse(text, label) if spec.parse else text
    return spec.check(value, label) if spec.check else value


def resolved_names() -> list[str]:
    """The options :func:`resolve_value` resolves (the others have rules of their own)."""
    return [name for name, spec in specs().items() if spec.env or spec.ini]


#: Global options of the CLI only (the API has no output of its own).
CLI_ONLY = {
    "quiet": Spec(("-q", "--quiet"), "Print only errors and requested data.", cli="bool"),
    "traceback": Spec(
        ("--traceback", "--raiseerr"),
        "Show the full traceback of an error (--raiseerr: Alembic's spelling).",
        cli="bool",
    ),
}
