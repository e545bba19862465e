"""docs/commands/fleet.md covers every fleet subcommand and flag; the Indexed Job
manifest of docs/ci.md runs, pod by pod, against PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer.main
from support.databases import pg_fetch
from support.projects import Project
from test_fleet_schemas import version_tables
from typer.testing import Result

from asyncmig.cli_fleet import fleet_app

DOCS = Path(__file__).resolve().parents[2] / "docs"
_GROUP: Any = typer.main.get_command(fleet_app)


def _section() -> str:
    text = (DOCS / "commands" / "fleet.md").read_text(encoding="utf-8")
    return text.split("## asyncmig fleet\n", 1)[1]


@pytest.mark.parametrize("name", sorted(_GROUP.commands))
def test_every_fleet_subcommand_and_flag_is_documented(name: str) -> None:
    body = _section()
    assert f"`fleet {name}" in body, name
    for param in _GROUP.commands[name].params:
        if param.param_type_name != "option":
            continue
        for flag in (*param.opts, *param.secondary_opts):
            if flag not in ("-h", "--help"):
                assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", body), (name, flag)


def test_the_manifest_is_embedded_verbatim() -> None:
    text = (DOCS / "ci.md").read_text()
    block = re.search(r"<!-- file: docs/ci/k8s-fleet-job.yaml -->\n```yaml\n(.*?)```", text, re.S)
    assert block is not None
    assert block.group(1) == (DOCS / "ci" / "k8s-fleet-job.yaml").read_text()


@pytest.mark.postgres
def test_the_indexed_job_manifest_migrates_every_tenant_once(
    cli: Callable[..., Result], project: Project, pg_url: str
) -> None:
    """Each pod of the Indexed Job, run here with its JOB_COMPLETION_INDEX."""
    ids = project.revisions(2)
    tenants = [f"tenant_{i:02d}" for i in range(12)]
    for name in [*tenants, "other_schema"]:
        pg_fetch(pg_url, f'create schema "{name}"')
    text = (DOCS / "ci" / "k8s-fleet-job.yaml").read_text()
    (argv,) = [json.loads(m) for m in re.findall(r"command: (\[.*\])", text)]
    assert argv[0] == "asyncmig"
    completions = int(re.search(r"completions: (\d+)", text).group(1))  # type: ignore[union-attr]
    assert argv[argv.index("--shard-count") + 1] == str(completions)
    env = {"DATABASE_URL": pg_url.replace("+asyncpg", "", 1)}
    for key, value in re.findall(r"name: (ASYNCMIG_\w+)\n\s+value: \"([\w.]+)\"", text):
        env[key] = value
    migrated = 0
    for index in range(completions):
        result = cli(*argv[1:], env={**env, "JOB_COMPLETION_INDEX": str(index)})
        assert result.exit_code == 0, result.output
        found = re.search(r"fleet upgrade: (\d+) targets? ", result.stdout)
        migrated += int(found.group(1)) if found else 0
    assert migrated == len(tenants)
    assert version_tables(pg_url) == dict.fromkeys(tenants, ids[-1])
