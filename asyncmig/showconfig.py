"""``show-config``: every key's verdict, as the engine and Alembic will take it.

The engine part is :mod:`asyncmig.engineargs` (loading the dialect class imports
no DB driver). The rest are config problems Alembic reports late or not at all:
keys Alembic renamed, and an ini file without the logging sections that env.py's
``fileConfig(config.config_file_name)`` needs.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engineargs import POOLCLASS, settings_verdicts
from .options import specs
from .settings import Setting, Settings

if TYPE_CHECKING:
    from .engineargs import KeyVerdict

#: Alembic keys renamed in Alembic 1.x: old name -> (new name, the release that renamed it).
RENAMED_ALEMBIC_KEYS = {"version_path_separator": ("path_separator", "1.16")}

_FILECONFIG_CALL = re.compile(r"^[^#\n]*\bfileConfig\s*\(", re.MULTILINE)
_FIX_LOGGING = (
    "which env.py's logging.config.fileConfig(config.config_file_name) needs: copy the "
    "logging sections that 'alembic init' writes, or remove that call from env.py"
)


def alembic_key_warnings(alembic: Mapping[str, Setting]) -> list[str]:
    """One line per renamed Alembic key in use, naming its replacement."""
    lines = []
    for old, (new, release) in RENAMED_ALEMBIC_KEYS.items():
        setting = alembic.get(old)
        if setting is None:
            continue
        if new in alembic:
            lines.append(
                f"{old} from {setting.source} is ignored: {new} is set "
                f"(Alembic {release} renamed {old} to {new}); remove {old}"
            )
        else:
            lines.append(
                f"{old} from {setting.source} is deprecated since Alembic {release}: "
                f"rename it {new} (which also splits prepend_sys_path)"
            )
    return lines


def logging_sections_problem(ini_path: Path | None) -> str | None:
    """Why ``logging.config.fileConfig(ini_path)`` would fail, in one line; None if it would not.

    Checks what fileConfig reads, in its order: ``[formatters]``, ``[handlers]``,
    ``[loggers]`` and the ``formatter_*``/``handler_*``/``logger_*`` sections they list.
    """
    if ini_path is None:
        return None
    name = ini_path.name
    if not ini_path.is_file():
        return f"{name} does not exist, {_FIX_LOGGING}"
    parser = configparser.ConfigParser()
    try:
        parser.read(ini_path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None  # reported elsewhere, with the file's own error
    problem = _first_logging_problem(parser)
    return f"{name} {problem}, {_FIX_LOGGING}" if problem else None


def _names(parser: configparser.ConfigParser, section: str, option: str) -> list[str]:
    text = parser.get(section, option, raw=True, fallback="")
    return [part.strip() for part in text.split(",") if part.strip()]


def _first_logging_problem(parser: configparser.ConfigParser) -> str | None:
    missing = [s for s in ("loggers", "handlers", "formatters") if not parser.has_section(s)]
    if missing:
        listed = [f"[{s}]" for s in missing]
        if len(listed) > 1:
            listed[-2:] = [f"{listed[-2]} or {listed[-1]}"]
        return f"has no {', '.join(listed)} section"
    for section in ("formatters", "handlers", "loggers"):
        if not parser.has_option(section, "keys"):
            return f"has no keys option in [{section}]"
    formatters = _names(parser, "formatters", "keys")
    for formatter in formatters:
        if not parser.has_section(f"formatter_{formatter}"):
            return f"has no [formatter_{formatter}] section"
    handlers = _names(parser, "handlers", "keys")
    for handler in handlers:
        section = f"handler_{handler}"
        if not parser.has_section(section):
            return f"has no [{section}] section"
        if not parser.has_option(section, "class"):
            return f"has no class option in [{section}]"
        formatter = parser.get(section, "formatter", raw=True, fallback="").strip()
        if formatter and formatter not in formatters:
            return f"names formatter {formatter!r} in [{section}] but not in [formatters] keys"
    loggers = _names(parser, "loggers", "keys")
    if "root" not in loggers:
        return "does not list root in [loggers] keys"
    for logger in loggers:
        section = f"logger_{logger}"
        if not parser.has_section(section):
            return f"has no [{section}] section"
        options = ("handlers",) if logger == "root" else ("qualname", "handlers")
        for option in options:
            if not parser.has_option(section, option):
                return f"has no {option} option in [{section}]"
        for handler in _names(parser, section, "handlers"):
            if handler not in handlers:
                return f"names handler {handler!r} in [{section}] but not in [handlers] keys"
    return None


def env_py_path(script_location: str, cwd: Path | None = None) -> Path | None:
    """``env.py`` of a script location (a directory, or Alembic's ``package:dir`` form)."""
    location = Path(script_location)
    if not location.is_absolute() and ":" in script_location:
        try:
            from alembic.util.pyfiles import coerce_resource_to_filename

            location = Path(coerce_resource_to_filename(script_location))
        except Exception:  # an unimportable package: Alembic reports it when it runs
            return None
    elif not location.is_absolute():
        location = (cwd or Path.cwd()) / location
    path = location / "env.py"
    return path if path.is_file() else None


def env_py_calls_fileconfig(env_py: Path) -> bool:
    """Whether env.py's source calls ``fileConfig(...)`` outside a comment (a text check)."""
    try:
        return bool(_FILECONFIG_CALL.search(env_py.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def config_warnings(settings: Settings) -> list[str]:
    """Renamed Alembic keys, and logging sections env.py needs that the ini file lacks."""
    lines = alembic_key_warnings(settings.alembic)
    location = settings.alembic.get("script_location")
    env_py = env_py_path(location.value) if location else None
    if env_py is not None and settings.config_file is not None and env_py_calls_fileconfig(env_py):
        problem = logging_sections_problem(settings.config_file)
        if problem:
            lines.append(problem)
    return lines


def describe(settings: Settings, verdicts: list[KeyVerdict] | None = None) -> dict[str, Any]:
    """The JSON report: ``engine`` is exactly what ``async_engine_from_config`` receives."""
    if verdicts is None:
        verdicts = settings_verdicts(settings)
    keys = [verdict.to_json() for verdict in verdicts]
    engine = {v.engine_arg: v.value for v in verdicts if v.status == "used"}
    engine["poolclass"] = POOLCLASS
    alembic: dict[str, Any] = {}
    for key, setting in settings.alembic.items():
        alembic[key] = {"value": setting.value, "source": setting.source}
        if key in RENAMED_ALEMBIC_KEYS:
            alembic[key]["replaced_by"] = RENAMED_ALEMBIC_KEYS[key][0]
    from sqlalchemy.engine import make_url

    from . import pooler
    from .connparams import describe_connect_params

    url = make_url(settings.require_url())
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "toml_file": str(settings.toml_file) if settings.toml_file else None,
        "section": settings.section,
        "engine": engine,
        # What the driver's connect() receives: URL parameters in the driver's own terms.
        "connect": describe_connect_params(url),
        "notes": list(settings.url_notes),
        "keys": keys,
        "dropped": [item for item in keys if item["status"] == "dropped"],
        "alembic": alembic,
        "warnings": config_warnings(settings),
        # asyncmig's own options, as the spec (asyncmig.options) lists them.
        "asyncmig": {name: settings.option(name) for name, spec in specs().items() if spec.shown},
        # Whether the URL looks like a connection pooler (host hints; null if not).
        "pooler": pooler.describe(url),
    }
