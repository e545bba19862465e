"""The one place an Alembic :class:`~alembic.config.Config` is built from resolved settings."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any, TextIO

from alembic import util
from alembic.config import Config

from .settings import Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"


class AsyncmigConfig(Config):
    """Alembic's Config, able to find asyncmig's templates beside Alembic's own."""

    def get_template_directory(self) -> str:
        name = self.attributes.get("asyncmig.template")
        if name is not None and (TEMPLATES_DIR / name).is_dir():
            return str(TEMPLATES_DIR)
        return super().get_template_directory()

    def print_stdout(self, text: str, *arg: Any) -> None:
        """Write the data a command was asked for (current, heads, history, show) even with -q.

        Alembic's ``-q`` silences it too; asyncmig's hides only notices, so
        ``rev=$(asyncmig -q current)`` works (``check``'s notice: see runner.check).
        """
        util.write_outstream(self.stdout, str(text) % arg if arg else str(text), "\n")


def build_config(
    settings: Settings | None,
    *,
    stdout: TextIO,
    output_buffer: TextIO | None = None,
    attributes: dict[str, Any] | None = None,
    quiet: bool = False,
    config_file: Path | None = None,
    toml_file: Path | None = None,
) -> AsyncmigConfig:
    """An Alembic Config whose section holds exactly the resolved ``sqlalchemy.*`` keys.

    Values are escaped for configparser (``%`` becomes ``%%``), so a URL-encoded
    password reaches ``env.py`` untouched; keys NullPool rejects are removed.
    ``settings`` is None only for ``init`` and ``list-templates``.
    """
    x_args = list(settings.x_args) if settings else []
    cmd_opts = Namespace(x=x_args or None, quiet=quiet)
    cfg = AsyncmigConfig(
        file_=settings.config_file if settings else config_file,
        toml_file=settings.toml_file if settings else toml_file,
        ini_section=settings.section if settings else "alembic",
        output_buffer=output_buffer,
        stdout=stdout,
        cmd_opts=cmd_opts,
        attributes=attributes,
    )
    if settings is None:
        return cfg
    section = settings.section
    if cfg.file_config.has_section(section):
        for setting in settings.dropped:
            cfg.file_config.remove_option(section, setting.key)
    for key, value in settings.engine_options.items():
        cfg.set_section_option(section, key, value.replace("%", "%%"))
    return cfg
