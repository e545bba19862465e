"""A fleet command from start to end: gather the targets, take the shard, run, collect."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .pool import Observer, run_jobs
from .results import FleetResult
from .targets import (
    Target,
    check_unique,
    config_targets,
    make_target,
    parse_line,
    query_targets,
    read_config,
    read_targets_file,
    select_shard,
    shard_from_env,
)
from .worker import COMMANDS, Job

if TYPE_CHECKING:
    from ..settings import Settings

#: Targets migrated at once unless told: small enough that a fleet does not exhaust a
#: server's max_connections (each target holds one connection, two during read-back).
DEFAULT_JOBS = 4

#: A target as the API takes it: a Target, a URL, ``schema=NAME``, or a mapping.
TargetSpec = Target | str | Mapping[str, Any]


@dataclass(frozen=True)
class FleetOptions:
    """Where the targets come from and how to run them (beside the global options)."""

    targets: Sequence[TargetSpec] | None = None
    targets_file: str | os.PathLike[str] | None = None
    targets_sql: str | None = None
    jobs: int | None = None
    fail_fast: bool = False
    #: ``(index, count)``: only the targets of that shard.
    shard: tuple[int, int] | None = None
    #: A shard count whose index is ``JOB_COMPLETION_INDEX`` (a Kubernetes Indexed Job).
    shard_count: int | None = None


def _as_target(spec: TargetSpec, where: str) -> Target:
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, str):
        target = parse_line(spec, where)
        if target is None:
            raise ConfigError(f"{where}: an empty target")
        return target
    return make_target(spec.get("url"), spec.get("schema"), spec.get("name"))


def gather(
    fleet: FleetOptions, options: Mapping[str, Any], settings: Settings | None = None
) -> tuple[list[Target], dict[str, Any]]:
    """The fleet's targets (all shards) and its config: given targets, a file, a query,
    or the config's, in that order. ``settings``: ``options`` resolved already (the CLI's)."""
    if settings is None:
        from ..settings import resolve

        settings = resolve(options)  # type: ignore[arg-type]
    cwd = options.get("cwd")
    config = read_config(settings.config_file, settings.toml_file)
    if cwd is not None and "targets_file" in config:
        config["targets_file"] = os.path.join(cwd, config["targets_file"])
    found: list[Target] = []
    if fleet.targets is not None:
        found += [_as_target(spec, f"targets[{i}]") for i, spec in enumerate(fleet.targets)]
    if fleet.targets_file is not None:
        found += read_targets_file(fleet.targets_file)
    if fleet.targets_sql is not None:
        found += query_targets(settings.require_url(), fleet.targets_sql)
    given = (fleet.targets, fleet.targets_file, fleet.targets_sql) != (None, None, None)
    if not given:
        found += config_targets(config)
        if config.get("targets_file"):
            found += read_targets_file(config["targets_file"])
        if config.get("targets_sql"):
            found += query_targets(settings.require_url(), str(config["targets_sql"]))
        given = any(config.get(key) for key in ("targets", "targets_file", "targets_sql"))
    if not given:
        # A source that lists no target is fine (a new deployment has no tenant yet).
        raise ConfigError(
            "no fleet targets: pass --targets FILE or --targets-sql QUERY, or set targets "
            "in [asyncmig.fleet]"
        )
    return check_unique(found), config


def jobs_of(fleet: FleetOptions, config: Mapping[str, Any]) -> int:
    value = fleet.jobs if fleet.jobs is not None else config.get("jobs", DEFAULT_JOBS)
    try:
        jobs = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"jobs must be a whole number, got {value!r}") from None
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    return jobs


def shard_of(fleet: FleetOptions, environ: Mapping[str, str]) -> tuple[int, int] | None:
    if fleet.shard is not None and fleet.shard_count is not None:
        raise ConfigError("give --shard I/N or --shard-count N, not both")
    if fleet.shard is not None:
        return fleet.shard
    if fleet.shard_count is not None:
        if fleet.shard_count < 1:
            raise ConfigError(f"--shard-count must be at least 1, got {fleet.shard_count}")
        return shard_from_env(fleet.shard_count, environ)
    return None


def _picklable(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options as a worker gets them (a Duration is a float, a list a tuple)."""
    plain: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, float):
            value = float(value)
        elif isinstance(value, list):
            value = tuple(value)
        elif name == "config" and not isinstance(value, (str, tuple, os.PathLike, type(None))):
            raise ConfigError("fleet commands take config files (paths), not a Config object")
        plain[name] = value
    return plain


@dataclass(frozen=True)
class Prepared:
    """The targets this run takes (its shard of the fleet) and how many at once."""

    targets: tuple[Target, ...]
    shard: tuple[int, int] | None
    jobs: int
    environ: Mapping[str, str]

    @property
    def secrets(self) -> set[str]:
        """The targets' passwords, for the CLI's masking streams."""
        return {secret for target in self.targets for secret in target.secrets}


def prepare(
    fleet: FleetOptions, options: Mapping[str, Any], settings: Settings | None = None
) -> Prepared:
    """Gather the targets, take the shard, settle the number of jobs."""
    environ = options.get("environ")
    environ = dict(environ if environ is not None else os.environ)
    targets, config = gather(fleet, options, settings)
    shard = shard_of(fleet, environ)
    return Prepared(tuple(select_shard(targets, shard)), shard, jobs_of(fleet, config), environ)


def run(
    command: str,
    arguments: Mapping[str, Any],
    fleet: FleetOptions,
    options: Mapping[str, Any],
    observer: Observer | None = None,
    prepared: Prepared | None = None,
) -> FleetResult:
    """Run ``command`` on every target of the fleet (of the shard); never raises for a
    target's failure: each is in its result, and the fleet's exit code is the worst."""
    if command not in COMMANDS:
        raise ConfigError(f"fleet has no command {command!r}")
    prepared = prepared or prepare(fleet, options)
    cwd = str(options.get("cwd") or os.getcwd())
    plain = _picklable(options)
    jobs = [
        Job(command, dict(arguments), plain, target, cwd, prepared.environ)
        for target in prepared.targets
    ]
    started = time.perf_counter()
    results = run_jobs(jobs, workers=prepared.jobs, fail_fast=fleet.fail_fast, observer=observer)
    slowest = max(results, key=lambda r: r.duration, default=None)
    return FleetResult(
        command=command,
        results=tuple(results),
        duration=time.perf_counter() - started,
        jobs=prepared.jobs,
        shard=prepared.shard,
        slowest=(slowest.name, slowest.duration) if slowest is not None else None,
    )
