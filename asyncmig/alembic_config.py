"""The one place an Alembic :class:`~alembic.config.Config` is built from resolved settings."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, overload

from alembic import util
from alembic.config import Config

from .settings import PREFIX, URL_KEY, Setting, Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"


class SectionReader:
    """Hands env.py each engine section it reads as the engine needs it.

    * ``sqlalchemy.url``, in any section (Alembic's ``multidb`` template keeps one per
      engine), in its async form: a sync driver or ``postgres://`` is moved to its
      async counterpart with a notice, and URL parameters the driver cannot honour
      are refused (exit 2) before anything connects;
    * the other ``sqlalchemy.*`` keys checked and coerced
      (:mod:`asyncmig.engineargs`): an unusable key is exit 2 naming it and its source,
      ``connect_args`` arrives as a dict, keys NullPool cannot take are left out.

    A URL is demanded only when env.py reads one: a missing one is remembered, and
    reported if the run then fails.
    """

    def __init__(
        self, settings: Settings, *, notice: Callable[[str], None], secrets: set[str]
    ) -> None:
        self._settings = settings
        self._notice = notice
        #: Said on the first read of the default section's URL (resolved before the run).
        self._url_notice = settings.url_notice
        self._secrets = secrets
        self._urls: dict[str, str] = {}
        self._sections: dict[str, dict[str, Any]] = {}
        #: Sections whose URL env.py asked for and did not find.
        self.missing: list[str] = []

    def url(self, section: str, raw: str | None) -> str | None:
        """The URL env.py gets for ``raw`` read from ``section``."""
        default = section == self._settings.section
        if raw is None or not raw.strip():
            if default and self._settings.url_error is not None:
                raise self._settings.url_error
            self.missing.append(section)
            return raw
        if default and self._url_notice is not None:
            self._notice(self._url_notice)
            self._url_notice = None
        if raw not in self._urls:
            self._urls[raw] = self._normalize(raw)
        return self._urls[raw]

    def section(self, name: str, values: Mapping[str, str]) -> dict[str, Any]:
        """The section env.py gets: URL normalised, engine keys checked and coerced."""
        if name not in self._sections:
            self._sections[name] = self._engine_section(name, values)
        return self._sections[name]

    def _engine_section(self, name: str, values: Mapping[str, str]) -> dict[str, Any]:
        from sqlalchemy.engine import make_url

        from .engineargs import check_engine_keys, engine_key_verdicts, engine_section

        url = self.url(name, values.get(URL_KEY))
        if url is None:
            return dict(values)
        settings = self._settings
        if name == settings.section:
            keys = [*settings.sqlalchemy.values(), *settings.dropped]
        else:
            label = f"{settings.config_file.name if settings.config_file else 'config'}:[{name}]"
            keys = [Setting(k, v, label) for k, v in values.items() if k.startswith(PREFIX)]
        keys = [k if k.key != URL_KEY else Setting(URL_KEY, url, k.source) for k in keys]
        verdicts = engine_key_verdicts(keys, make_url(url), secrets=tuple(self._secrets))
        check_engine_keys(verdicts)
        plain = {k: v for k, v in values.items() if not k.startswith(PREFIX)}
        return {**plain, **engine_section(verdicts)}

    def _normalize(self, raw: str) -> str:
        from .connparams import describe_connect_params
        from .urls import DatabaseURL, url_secrets

        self._secrets.update(url_secrets(raw))
        url = DatabaseURL.parse(raw)
        self._secrets.update(url.secrets)
        describe_connect_params(url.url)  # a parameter the driver cannot honour: exit 2 now
        if url.notice:
            self._notice(url.notice)
        return url.render()


class AsyncmigConfig(Config):
    """Alembic's Config: asyncmig's templates beside Alembic's, async URLs for env.py."""

    _sections: SectionReader | None = None

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

    @overload
    def get_section(self, name: str, default: None = ...) -> dict[str, str] | None: ...

    @overload
    def get_section(self, name: str, default: dict[str, str]) -> dict[str, str]: ...

    @overload
    def get_section(
        self, name: str, default: Mapping[str, str]
    ) -> dict[str, str] | Mapping[str, str]: ...

    def get_section(
        self, name: str, default: Mapping[str, str] | None = None
    ) -> Mapping[str, str] | None:
        section = super().get_section(name, default)
        reader = self._sections
        # A section without a URL is an engine section only if it is the one env.py reads
        # for its engine (Alembic itself reads others, such as [post_write_hooks]).
        if (
            reader is not None
            and section is not None
            and (URL_KEY in section or name == self.config_ini_section)
        ):
            return reader.section(name, section)
        return section

    @overload
    def get_section_option(self, section: str, name: str, default: str) -> str: ...

    @overload
    def get_section_option(
        self, section: str, name: str, default: str | None = ...
    ) -> str | None: ...

    def get_section_option(self, section: str, name: str, default: str | None = None) -> str | None:
        value = super().get_section_option(section, name, default)
        if name == URL_KEY and self._sections is not None:
            return self._sections.url(section, value)
        return value


def build_config(
    settings: Settings,
    *,
    stdout: TextIO,
    cmd_opts: Namespace | None = None,
    sections: SectionReader | None = None,
    output_buffer: TextIO | None = None,
    attributes: dict[str, Any] | None = None,
) -> AsyncmigConfig:
    """An Alembic Config whose section holds exactly the resolved ``sqlalchemy.*`` keys.

    Values are escaped for configparser (``%`` becomes ``%%``), so a URL-encoded
    password reaches ``env.py`` untouched; keys NullPool rejects are removed.
    ``cmd_opts`` is what env.py sees as ``config.cmd_opts`` (see
    :func:`asyncmig.cmdopts.alembic_namespace`); ``sections`` what env.py reads.
    """
    if cmd_opts is None:
        cmd_opts = Namespace(
            config=list(settings.config_args) or None,
            name=settings.section,
            x=list(settings.x_args) or None,
        )
    if sections is None:
        sections = SectionReader(settings, notice=lambda message: None, secrets=set())
    cfg = AsyncmigConfig(
        file_=settings.config_file,
        toml_file=settings.toml_file,
        ini_section=settings.section,
        output_buffer=output_buffer,
        stdout=stdout,
        cmd_opts=cmd_opts,
        attributes=attributes,
    )
    section = settings.section
    if cfg.file_config.has_section(section):
        for setting in settings.dropped:
            cfg.file_config.remove_option(section, setting.key)
        if settings.url_error is not None:
            cfg.file_config.remove_option(section, URL_KEY)
    for key, value in settings.engine_options.items():
        cfg.set_section_option(section, key, value.replace("%", "%%"))
    cfg._sections = sections
    return cfg


def scaffold_config(
    *,
    stdout: TextIO,
    config_file: Path,
    toml_file: Path,
    template: str | None = None,
    quiet: bool = False,
) -> AsyncmigConfig:
    """The Config ``init`` and ``list-templates`` need: file names, no settings resolved."""
    ours = template is not None and (TEMPLATES_DIR / template).is_dir()
    return AsyncmigConfig(
        file_=config_file,
        toml_file=toml_file,
        stdout=stdout,
        cmd_opts=Namespace(quiet=quiet),
        attributes={"asyncmig.template": template} if ours else None,
    )
