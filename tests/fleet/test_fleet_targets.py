"""Fleet targets: files, JSON lines, the config, names and shards (no database)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from support.projects import Project
from typer.testing import Result

from asyncmig.errors import ConfigError
from asyncmig.fleet.results import FleetResult, TargetResult, worst
from asyncmig.fleet.run import FleetOptions, gather, jobs_of
from asyncmig.fleet.targets import (
    Target,
    parse_line,
    parse_shard,
    read_targets_file,
    select_shard,
    shard_of,
)
from asyncmig.fleet.view import FleetView, summary
from asyncmig.render import Printer


def test_a_targets_file_takes_urls_schemas_and_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text(
        "# tenants\n"
        "\n"
        "postgresql://app:s3cr3t-Pass@db1/tenant_a\n"
        "schema=tenant_b\n"
        '{"url": "postgresql://db2/other", "name": "c", "schema": "s"}\n'
    )
    targets = read_targets_file(path)
    assert [(t.name, t.schema) for t in targets] == [("tenant_a", None), ("tenant_b", "tenant_b"),
                                                     ("c", "s")]  # fmt: skip
    assert targets[0].masked_url == "postgresql+asyncpg://app:***@db1/tenant_a"
    assert "s3cr3t-Pass" in targets[0].secrets


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("tenant_a", "targets.txt:1: expected a database URL, schema=NAME or a JSON object"),
        ('{"schema": "a", "port": 1}', "targets.txt:1: unknown key(s) port"),
        (
            "{nope",
            "targets.txt:1: not a JSON object (Expecting property name enclosed in double quotes)",
        ),
        ('{"name": "x"}', "targets.txt:1: a fleet target needs a url or a schema"),
        ("schema=", "targets.txt:1: schema must be a non-empty string"),
    ],
)
def test_a_bad_line_is_refused_with_its_place(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "targets.txt"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as info:
        read_targets_file(path)
    assert str(info.value) == message


def test_two_targets_with_one_name_are_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("postgresql://db1/app\npostgresql://db2/app\n")
    with pytest.raises(ConfigError, match="two fleet targets are named 'app'"):
        gather(FleetOptions(targets_file=path), {})


def test_the_config_gives_targets_and_jobs(project: Project, tmp_path: Path) -> None:
    with project.ini.open("a") as fh:
        fh.write("\n[asyncmig.fleet]\ntargets =\n    schema=one\n    schema=two\njobs = 3\n")
    targets, config = gather(FleetOptions(), {})
    assert [t.name for t in targets] == ["one", "two"]
    assert jobs_of(FleetOptions(), config) == 3
    assert jobs_of(FleetOptions(jobs=2), config) == 2


def test_pyproject_gives_a_targets_file(project: Project, tmp_path: Path) -> None:
    (tmp_path / "tenants.txt").write_text("schema=a\nschema=b\nschema=c\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmig.fleet]\ntargets_file = "tenants.txt"\njobs = 2\n'
    )
    targets, config = gather(FleetOptions(), {})
    assert [t.name for t in targets] == ["a", "b", "c"]
    assert config["jobs"] == 2


def test_no_targets_is_a_usage_error(cli: Callable[..., Result], project: Project) -> None:
    result = cli("fleet", "upgrade")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: no fleet targets: pass --targets FILE or --targets-sql QUERY, or set targets "
        "in [asyncmig.fleet]"
    )


def test_shards_cover_every_target_once_and_are_stable() -> None:
    targets = [Target(name=f"tenant_{i}", schema=f"tenant_{i}") for i in range(1000)]
    parts = [select_shard(targets, (i, 4)) for i in range(4)]
    names = [t.name for part in parts for t in part]
    assert sorted(names) == sorted(t.name for t in targets)
    assert all(150 < len(part) < 350 for part in parts)  # roughly even
    # The hash is sha256, not Python's salted hash(): the same on every machine.
    assert shard_of("tenant_1", 4) == 1
    assert shard_of("tenant_2", 4) == 3


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1", "a/b", "0/0"])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard expects I/N"):
        parse_shard(text)


def test_shard_count_needs_the_job_completion_index(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    (tmp_path / "t.txt").write_text("schema=a\n")
    result = cli("fleet", "status", "--targets", "t.txt", "--shard-count", "3")
    assert result.exit_code == 2
    assert "--shard-count needs JOB_COMPLETION_INDEX" in result.stderr


def test_the_worst_exit_code_wins() -> None:
    assert worst([0, 4, 1, 0]) == 1
    assert worst([0, 4]) == 4
    assert worst([1, 3, 5]) == 3
    assert worst([]) == 0
    assert parse_line("  ", "x") is None


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _results() -> list[TargetResult]:
    return [
        TargetResult("a", "upgrade", schema="a", to_revisions=("0002aa",),
                     steps=("0001aa", "0002aa"), duration=0.5),
        TargetResult("b", "upgrade", schema="b", error="0002aa failed: boom",
                     error_code="migration_failed", exit_code=1, duration=0.2),
        TargetResult("c", "upgrade", schema="c", skipped=True),
    ]  # fmt: skip


def test_the_live_view_and_the_summary_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out, err = _Terminal(), io.StringIO()
    printer = Printer(out, err)
    with FleetView(printer, "upgrade", 3, json_lines=False) as seen:
        for result in _results():
            seen.started(result.name)
            seen.finished(result)
    fleet = FleetResult("upgrade", tuple(_results()), 1.0, jobs=2, slowest=("a", 0.5))
    summary(printer, fleet)
    text = out.getvalue()
    assert "b: FAILED: 0002aa failed: boom" in text  # printed as it failed
    assert "fleet upgrade" in text and "skipped (--fail-fast)" in text
    assert text.rstrip().endswith(
        "fleet upgrade: 3 targets (1 changed, 1 failed, 1 skipped) in 1.00 s with 2 jobs; "
        "failed: b; slowest: a (0.50 s)."
    )
    assert fleet.exit_code == 1


def test_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    with FleetView(Printer(out, io.StringIO()), "upgrade", 3, json_lines=False) as seen:
        for result in _results():
            seen.finished(result)
    assert out.getvalue().splitlines() == [
        "[1/3] a: base → 0002aa, 2 steps (0.50 s)",
        "[2/3] b: base → base, FAILED: 0002aa failed: boom (0.20 s)",
        "[3/3] c: base → base, skipped (--fail-fast) (0.00 s)",
    ]


def test_a_source_that_lists_no_target_runs_nothing(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    (tmp_path / "empty.txt").write_text("# no tenant yet\n")
    result = cli("fleet", "upgrade", "--targets", "empty.txt", "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_a_target_repr_hides_the_url() -> None:
    """env.py may log ``current_target()``: its repr never shows the URL (nor its password)."""
    from asyncmig.fleet.targets import Target

    target = Target("acme", url="postgresql://app:s3cret@db/acme", schema=None)
    assert "s3cret" not in repr(target)
    assert repr(target) == "Target(name='acme', schema=None)"
