"""Every ``--json`` output parses and has the keys docs/ci.md documents.

The examples in docs/ci.md are the contract: each one is parsed and its key
structure compared with the real output, so the docs cannot drift from the code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.projects import Project

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
STEP_KEYS = {"revision", "from_revisions", "to_revisions", "message", "direction", "duration"}
SCRIPT_KEYS = {
    "revision",
    "down_revisions",
    "message",
    "branch_labels",
    "is_head",
    "is_branch_point",
    "is_merge_point",
    "is_current",
    "path",
}
#: For each command: the list-valued keys whose items have a fixed set of keys.
ITEM_LISTS = {
    "current": (),
    "heads": ("heads",),
    "history": ("history",),
    "status": ("pending",),
    "plan": ("steps",),
    "upgrade": ("applied",),
    "downgrade": ("applied",),
    "show-config": ("keys",),
}


def documented(command: str) -> dict[str, Any]:
    """The JSON example under the ``asyncmig <command> --json`` heading of docs/ci.md."""
    text = DOC.read_text()
    heading = re.compile(rf"^#### .*`asyncmig {re.escape(command)} --json`.*$", re.MULTILINE)
    match = heading.search(text)
    assert match, f"docs/ci.md documents no `asyncmig {command} --json`"
    block = re.compile(r"```json\n(.*?)```", re.DOTALL).search(text, match.end())
    assert block, command
    data: dict[str, Any] = json.loads(block.group(1))
    return data


def assert_same_shape(command: str, actual: dict[str, Any]) -> None:
    doc = documented(command)
    assert set(actual) == set(doc), command
    for key in ITEM_LISTS[command]:
        assert actual[key], f"{command}: {key} is empty, nothing to compare"
        for item in actual[key]:
            assert set(item) == set(doc[key][0]), (command, key)


def run_json(cli, *args: str) -> dict[str, Any]:
    result = cli(*args, "--json")
    assert result.exit_code in (0, 4), result.output
    data: dict[str, Any] = json.loads(result.stdout)  # stdout is the JSON object and nothing else
    return data


@pytest.fixture
def behind(project: Project, cli) -> Project:
    """Three revisions; the SQLite database at the second."""
    project.revisions(3)
    assert cli("-q", "upgrade", "0002aa").exit_code == 0
    return project


def test_current(cli, behind: Project) -> None:
    data = run_json(cli, "current")
    assert data == {"current": ["0002aa"], "heads": ["0003aa"]}
    assert_same_shape("current", data)


def test_heads(cli, behind: Project) -> None:
    data = run_json(cli, "heads")
    assert_same_shape("heads", data)
    (head,) = data["heads"]
    assert set(head) == SCRIPT_KEYS
    assert head["revision"] == "0003aa" and head["down_revisions"] == ["0002aa"]
    assert head["is_head"] is True and head["message"] == "create table t0003"
    assert Path(head["path"]).name == "0003aa_create_t0003.py"


def test_history(cli, behind: Project) -> None:
    data = run_json(cli, "history")
    assert_same_shape("history", data)
    assert [s["revision"] for s in data["history"]] == ["0003aa", "0002aa", "0001aa"]
    assert data["history"][-1]["down_revisions"] == []
    assert not any(s["is_current"] for s in data["history"])
    marked = run_json(cli, "history", "-i", "-r", "0002aa:")
    assert [(s["revision"], s["is_current"]) for s in marked["history"]] == [
        ("0003aa", False),
        ("0002aa", True),
    ]
    # ``current`` in a range is the database's revision, as in ``alembic history -r current:``.
    since = run_json(cli, "history", "-r", "current:")
    assert [(s["revision"], s["is_current"]) for s in since["history"]] == [
        ("0003aa", False),
        ("0002aa", True),
    ]
    until = run_json(cli, "history", "-r", ":current")
    assert [s["revision"] for s in until["history"]] == ["0002aa", "0001aa"]


def test_status(cli, behind: Project) -> None:
    result = cli("status", "--json")
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert_same_shape("status", data)
    assert data["current"] == ["0002aa"] and data["heads"] == ["0003aa"]
    assert data["up_to_date"] is False
    assert data["pending"] == [
        {
            "revision": "0003aa",
            "from_revisions": ["0002aa"],
            "to_revisions": ["0003aa"],
            "message": "create table t0003",
            "direction": "upgrade",
            "duration": None,
        }
    ]


def test_plan(cli, behind: Project) -> None:
    data = run_json(cli, "plan")
    assert_same_shape("plan", data)
    assert data["current"] == ["0002aa"] and data["target"] == "head"
    (step,) = data["steps"]
    assert set(step) == STEP_KEYS | {"sql"}
    assert "CREATE TABLE t0003" in step["sql"] and "CREATE TABLE t0003" in data["sql"]


def test_upgrade_and_downgrade(cli, behind: Project) -> None:
    data = run_json(cli, "upgrade")
    assert_same_shape("upgrade", data)
    assert data["command"] == "upgrade" and data["target"] == "head"
    assert data["from_revisions"] == ["0002aa"] and data["to_revisions"] == ["0003aa"]
    (step,) = data["applied"]
    assert set(step) == STEP_KEYS
    assert step["revision"] == "0003aa" and step["direction"] == "upgrade"
    assert isinstance(step["duration"], float) and step["duration"] >= 0
    assert isinstance(data["duration"], float)

    data = run_json(cli, "downgrade", "base")
    assert_same_shape("downgrade", data)
    assert data["command"] == "downgrade" and data["to_revisions"] == []
    assert [(s["revision"], s["direction"]) for s in data["applied"]] == [
        ("0003aa", "downgrade"),
        ("0002aa", "downgrade"),
        ("0001aa", "downgrade"),
    ]
    assert [s["to_revisions"] for s in data["applied"]] == [["0002aa"], ["0001aa"], []]


def test_upgrade_with_nothing_to_do(cli, project: Project) -> None:
    project.revisions(1)
    assert cli("-q", "upgrade").exit_code == 0
    data = run_json(cli, "upgrade")
    assert data["applied"] == [] and data["to_revisions"] == ["0001aa"]


def test_show_config(cli, project: Project) -> None:
    data = run_json(cli, "--url", "postgresql://app:s3cret@db/app", "show-config")
    assert_same_shape("show-config", data)
    assert data["engine"] == {"url": "postgresql+asyncpg://app:***@db/app", "poolclass": "NullPool"}
    assert data["keys"][0]["source"] == "--url"
    assert set(data["asyncmig"]) == {
        "wait_timeout",
        "lock_timeout",
        "statement_timeout",
        "pg_lock_timeout",
        "application_name",
        "history",
        "deploy_id",
    }
    assert "s3cret" not in json.dumps(data)


def test_json_on_postgres(cli, project: Project, pg_url: str) -> None:
    """The same keys on a server backend, where upgrade runs in one transaction."""
    project.revisions(2)
    assert_same_shape("status", run_json(cli, "--url", pg_url, "status"))
    assert_same_shape("plan", run_json(cli, "--url", pg_url, "plan"))
    up = run_json(cli, "--url", pg_url, "upgrade")
    assert_same_shape("upgrade", up)
    assert [s["revision"] for s in up["applied"]] == ["0001aa", "0002aa"]
    assert run_json(cli, "--url", pg_url, "status")["up_to_date"] is True


def test_every_json_command_is_documented() -> None:
    for command in ITEM_LISTS:
        documented(command)
