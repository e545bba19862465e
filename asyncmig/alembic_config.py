"""The one place an Alembic :class:`~alembic.config.Config` is built from resolved settings."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, overload

from alembic import util
from alembic.config import Config

from .errors import ConfigError
from .settings import URL_KEY, Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"


class UrlReader:
    """Hands env.py every ``sqlalchemy.url`` it reads in the async form the engine needs.

    Any section counts (Alembic's ``multidb`` template keeps one URL per engine
    section), so a sync driver or a ``postgres://`` URL is moved to its async
    counterpart wherever env.py finds it. A URL is demanded only when env.py
    reads one: a missing one is remembered, and reported if the run then fails.
    """

    def __init__(
        self,
        *,
        notice: Callable[[str], None],
        secrets: set[str],
        default_section: str,
        url_error: ConfigError | None = None,
        url_notice: str | None = None,
    ) -> None:
        self._notice = notice
        #: Said on the first read of the default section's URL (resolved before the run).
        self._url_notice = url_notice
        self._secrets = secrets
        self._default_section = default_section
        self._url_error = url_error
        self._seen: dict[str, str] = {}
        #: Sections whose URL env.py asked for and did not find.
        self.missing: list[str] = []

    def read(self, section: str, raw: str | None) -> str | None:
        if raw is None or not raw.strip():
            if section == self._default_section and self._url_error is not None:
                raise self._url_error
            self.missing.append(section)
            return raw
        if section == self._default_section and self._url_notice is not None:
            self._notice(self._url_notice)
            self._url_notice = None
        if raw not in self._seen:
            self._seen[raw] = self._normalize(raw)
        return self._seen[raw]

    def _normalize(self, raw: str) -> str:
        from .connparams import describe_connect_params
        from .urls import normalize_url, parse_url, render_url, url_secrets

        self._secrets.update(url_secrets(raw))
        original = parse_url(raw)
        url = normalize_url(original)
        describe_connect_params(url)  # a parameter the driver cannot honour: exit 2 now
        if original.drivername != url.drivername and "+" in original.drivername:
            self._notice(f"{original.drivername} is a synchronous driver; using {url.drivername}")
        return render_url(url)


class AsyncmigConfig(Config):
    """Alembic's Config: asyncmig's templates beside Alembic's, async URLs for env.py."""

    _url_reader: UrlReader | None = None

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
        reader = self._url_reader
        # A section without a URL is a URL request only if it is the one env.py reads for
        # its engine (Alembic itself reads other sections, such as [post_write_hooks]).
        if (
            reader is not None
            and section is not None
            and (URL_KEY in section or name == self.config_ini_section)
        ):
            url = reader.read(name, section.get(URL_KEY))
            if url is not None:
                section = {**section, URL_KEY: url}
        return section

    @overload
    def get_section_option(self, section: str, name: str, default: str) -> str: ...

    @overload
    def get_section_option(
        self, section: str, name: str, default: str | None = ...
    ) -> str | None: ...

    def get_section_option(self, section: str, name: str, default: str | None = None) -> str | None:
        value = super().get_section_option(section, name, default)
        if name == URL_KEY and self._url_reader is not None:
            return self._url_reader.read(section, value)
        return value


def build_config(
    settings: Settings,
    *,
    stdout: TextIO,
    cmd_opts: Namespace | None = None,
    urls: UrlReader | None = None,
    output_buffer: TextIO | None = None,
    attributes: dict[str, Any] | None = None,
) -> AsyncmigConfig:
    """An Alembic Config whose section holds exactly the resolved ``sqlalchemy.*`` keys.

    Values are escaped for configparser (``%`` becomes ``%%``), so a URL-encoded
    password reaches ``env.py`` untouched; keys NullPool rejects are removed.
    ``cmd_opts`` is what env.py sees as ``config.cmd_opts`` (see
    :func:`asyncmig.cmdopts.alembic_namespace`); ``urls`` reads URLs for env.py.
    """
    if cmd_opts is None:
        cmd_opts = Namespace(
            config=list(settings.config_args) or None,
            name=settings.section,
            x=list(settings.x_args) or None,
        )
    if urls is None:
        urls = UrlReader(
            notice=lambda message: None,
            secrets=set(),
            default_section=settings.section,
            url_error=settings.url_error,
        )
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
    cfg._url_reader = urls
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
