"""Every command and global option through the in-process CLI, on real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from support.projects import Project, make_project, write_revisions
from typer.testing import Result

from asyncmig import __version__

Cli = Callable[..., Result]

#: An env.py that records the -x arguments and --tag, then runs asyncmig's helper.
RECORDING_ENV = textwrap.dedent("""\
    import json
    from pathlib import Path

    from alembic import context

    from asyncmig.env import run_migrations

    seen = {"x": context.get_x_argument(as_dictionary=True), "tag": context.get_tag_argument()}
    config_file = Path(context.config.config_file_name or "pyproject.toml")
    config_file.with_name("seen.json").write_text(json.dumps(seen))
    run_migrations(target_metadata=None)
    """)


def models_env(*columns: str) -> str:
    """An env.py whose model is table t0001 plus ``columns``.

    The model lives in env.py itself: an imported models module would be cached across tests.
    """
    extra = "".join(f", sa.Column({c!r}, sa.String(20))" for c in columns)
    return textwrap.dedent(f"""\
        import sqlalchemy as sa

        from asyncmig.env import run_migrations

        metadata = sa.MetaData()
        sa.Table("t0001", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50)){extra})
        run_migrations(target_metadata=metadata)
        """)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def seen(project: Project) -> dict[str, object]:
    return json.loads((project.path / "seen.json").read_text())


def revision_files(project: Project) -> list[str]:
    return sorted(p.name for p in project.versions.glob("*.py"))


# -- init and list-templates -----------------------------------------------------------------
def test_init_default_template_runs_on_sqlite(cli: Cli, tmp_path: Path) -> None:
    result = ok(cli("init", "migrations"))
    assert f"Generating {tmp_path / 'alembic.ini'} ...  done" in result.stdout
    assert (
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db"
        in (tmp_path / "alembic.ini").read_text()
    )
    assert (
        "from asyncmig.env import run_migrations"
        in (tmp_path / "migrations" / "env.py").read_text()
    )
    ok(cli("revision", "-m", "first"))
    ok(cli("upgrade", "head"))
    assert (tmp_path / "app.db").is_file()


@pytest.mark.parametrize("template", ["async", "generic"])
def test_init_alembic_templates(cli: Cli, tmp_path: Path, template: str) -> None:
    ok(cli("init", "-t", template, "migrations"))
    env = (tmp_path / "migrations" / "env.py").read_text()
    assert ("async_engine_from_config" in env) is (template == "async")
    assert "asyncmig" not in env


def test_init_package_writes_init_files(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "--package", "migrations"))
    assert (tmp_path / "migrations" / "__init__.py").is_file()
    assert (tmp_path / "migrations" / "versions" / "__init__.py").is_file()


def test_init_existing_directory_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "migrations"))
    result = cli("init", "migrations")
    assert result.exit_code == 2
    assert result.stderr == "Error: Directory migrations already exists and is not empty\n"


def test_list_templates(cli: Cli) -> None:
    lines = ok(cli("list-templates")).stdout.splitlines()
    assert lines[0].split() == ["template", "description"]
    assert re.match(
        r"asyncmig +asyncmig's async configuration: a short env\.py on asyncmig\.env", lines[1]
    )
    names = [line.split()[0] for line in lines[1:]]
    assert {"async", "generic", "multidb", "pyproject", "pyproject_async"} <= set(names)


# -- revision ----------------------------------------------------------------------------------
def test_revision_message_rev_id_and_depends_on(cli: Cli, project: Project) -> None:
    result = ok(cli("revision", "-m", "first table", "--rev-id", "aaa1"))
    assert "aaa1_first_table.py ...  done" in result.stdout
    ok(cli("revision", "-m", "second", "--rev-id", "bbb2", "--depends-on", "aaa1"))
    text = (project.versions / "bbb2_second.py").read_text()
    assert "down_revision: Union[str, Sequence[str], None] = 'aaa1'" in text
    assert "depends_on: Union[str, Sequence[str], None] = 'aaa1'" in text
    assert ok(cli("heads")).stdout == "bbb2 (head)\n"
    # Repeatable, as in Alembic's CLI.
    ok(
        cli(
            "revision",
            "-m",
            "third",
            "--rev-id",
            "ccc3",
            "--depends-on",
            "aaa1",
            "--depends-on",
            "bbb2",
        )
    )
    text = (project.versions / "ccc3_third.py").read_text()
    assert "depends_on: Union[str, Sequence[str], None] = ['aaa1', 'bbb2']" in text


def test_revision_head_splice_and_branch_label(cli: Cli, project: Project) -> None:
    project.revisions(2)
    refused = cli("revision", "-m", "side", "--head", "0001aa")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("Error: Revision 0001aa is not a head revision")
    ok(cli("revision", "-m", "side", "--head", "0001aa", "--splice", "--rev-id", "side1"))
    ok(
        cli(
            "revision",
            "-m",
            "root",
            "--head",
            "base",
            "--branch-label",
            "other",
            "--rev-id",
            "root1",
        )
    )
    heads = ok(cli("heads")).stdout.splitlines()
    assert sorted(heads) == ["0002aa (head)", "root1 (other) (head)", "side1 (head)"]
    assert ok(cli("branches")).stdout.startswith("0001aa (branchpoint)\n")


def test_revision_version_path(cli: Cli, project: Project) -> None:
    ini = project.ini.read_text().replace("path_separator = os", "path_separator = space")
    ini = ini.replace(
        "prepend_sys_path = %(here)s",
        "prepend_sys_path = %(here)s\n"
        "version_locations = %(here)s/migrations/versions %(here)s/extra",
    )
    project.ini.write_text(ini)
    (project.path / "extra").mkdir()
    ok(
        cli(
            "revision",
            "-m",
            "elsewhere",
            "--rev-id",
            "ext1",
            "--version-path",
            "extra",
            "--head",
            "base",
            "--branch-label",
            "extra",
        )
    )
    assert (project.path / "extra" / "ext1_elsewhere.py").is_file()


def test_revision_sql_and_autogenerate_with_sql(cli: Cli, project: Project) -> None:
    refused = cli("revision", "-m", "offline", "--sql")
    assert refused.exit_code == 2
    assert refused.stderr == (
        "Error: Using --sql with the revision command when revision_environment "
        "is not configured does not make any sense\n"
    )
    project.ini.write_text(
        project.ini.read_text().replace(
            "prepend_sys_path = %(here)s",
            "prepend_sys_path = %(here)s\nrevision_environment = true",
        )
    )
    ok(cli("revision", "-m", "offline", "--sql", "--rev-id", "off1"))
    assert revision_files(project) == ["off1_offline.py"]
    result = cli("revision", "--autogenerate", "--sql", "-m", "x")
    assert result.exit_code == 2
    assert result.stderr == "Error: Using --sql with --autogenerate does not make any sense\n"


def test_revision_autogenerate_and_check(cli: Cli, project: Project) -> None:
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(models_env())
    ok(cli("revision", "--autogenerate", "-m", "models", "--rev-id", "auto1"))
    text = (project.versions / "auto1_models.py").read_text()
    assert "op.create_table('t0001'" in text
    behind = cli("check")
    assert behind.exit_code == 4
    assert behind.stderr.endswith("Error: Target database is not up to date\n")
    ok(cli("upgrade", "head"))
    assert "No new upgrade operations detected." in ok(cli("check")).stdout
    assert ok(cli("-q", "check")).stdout == ""  # the exit code is the answer
    env_py.write_text(models_env("email"))
    drift = cli("check")
    assert drift.exit_code == 4
    assert drift.stderr.splitlines()[-1].startswith(
        "Error: model drift: New upgrade operations detected: [('add_column', None, 't0001', "
    )


# -- upgrade / downgrade -----------------------------------------------------------------------
def current_of(cli: Cli, *glob: str) -> str:
    return ok(cli(*glob, "current")).stdout.strip()


def test_upgrade_downgrade_targets(cli: Cli, project: Project) -> None:
    project.revisions(4)
    assert ok(cli("upgrade", "0001aa")).stdout.startswith(
        "Applying 1/1 base → 0001aa create table t0001 …"
    )
    assert current_of(cli) == "0001aa"
    result = ok(cli("upgrade", "+2"))
    assert "Applying 2/2 0002aa → 0003aa create table t0003 …" in result.stdout
    assert "Upgraded 2 revisions in " in result.stdout
    assert result.stdout.endswith("; the database is at 0003aa.\n")
    assert current_of(cli) == "0003aa"
    ok(cli("downgrade", "-1"))
    assert current_of(cli) == "0002aa"
    ok(cli("upgrade", "heads"))
    assert current_of(cli) == "0004aa (head)"
    assert ok(cli("upgrade", "head")).stdout == "Nothing to do: the database is at 0004aa.\n"
    result = ok(cli("downgrade", "base"))
    assert "Reverting 4/4 0001aa → base create table t0001 …" in result.stdout
    assert result.stdout.endswith("; the database is at base.\n")
    assert current_of(cli) == ""


def test_upgrade_tag_reaches_env(cli: Cli, project: Project) -> None:
    project.revisions(1)
    (project.path / "migrations" / "env.py").write_text(RECORDING_ENV)
    ok(cli("upgrade", "head", "--tag", "release-7"))
    assert seen(project)["tag"] == "release-7"
    ok(cli("downgrade", "base", "--tag", "undo"))
    assert seen(project)["tag"] == "undo"


def test_upgrade_and_downgrade_sql_ranges(cli: Cli, project: Project) -> None:
    project.revisions(3)
    result = ok(cli("upgrade", "0001aa:0003aa", "--sql"))
    assert "-- Running upgrade 0001aa -> 0002aa" in result.stdout
    assert "CREATE TABLE t0003" in result.stdout
    assert "CREATE TABLE t0001" not in result.stdout
    assert not (project.path / "app.db").exists()
    result = ok(cli("downgrade", "0003aa:0001aa", "--sql"))
    assert "DROP TABLE t0003;" in result.stdout
    assert "DROP TABLE t0001" not in result.stdout
    refused = cli("downgrade", "-1", "--sql")
    assert refused.exit_code == 2
    assert refused.stderr == "Error: downgrade with --sql requires <fromrev>:<torev>\n"


def test_upgrade_unknown_revision_is_a_usage_error(cli: Cli, project: Project) -> None:
    project.revisions(1)
    result = cli("upgrade", "nope")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Can't locate revision identified by 'nope'"


# -- reading commands --------------------------------------------------------------------------
def test_current_history_heads_show(cli: Cli, project: Project) -> None:
    project.revisions(3)
    ok(cli("upgrade", "0002aa"))
    verbose = ok(cli("current", "-v")).stdout
    assert verbose.startswith(
        f"Current revision(s) for sqlite+aiosqlite:///{project.path}/app.db:\n"
    )
    assert "Rev: 0002aa\n" in verbose
    assert ok(cli("history")).stdout == (
        "0002aa -> 0003aa (head), create table t0003\n"
        "0001aa -> 0002aa, create table t0002\n"
        "<base> -> 0001aa, create table t0001\n"
    )
    assert ok(cli("history", "-r", "0002aa:")).stdout == (
        "0002aa -> 0003aa (head), create table t0003\n0001aa -> 0002aa, create table t0002\n"
    )
    assert "0001aa -> 0002aa (current), create table t0002\n" in ok(cli("history", "-i")).stdout
    history_v = ok(cli("history", "-v", "-r", ":0001aa")).stdout
    assert history_v.startswith("Rev: 0001aa\nParent: <base>\n")
    assert ok(cli("heads")).stdout == "0003aa (head)\n"
    assert ok(cli("heads", "-v")).stdout.startswith("Rev: 0003aa (head)\nParent: 0002aa\n")
    assert ok(cli("branches")).stdout == ""
    assert ok(cli("show", "0002aa")).stdout.startswith("Rev: 0002aa\nParent: 0001aa\n")
    assert ok(cli("show", "current")).stdout.startswith("Rev: 0002aa\n")


def test_stamp_purge_and_sql(cli: Cli, project: Project) -> None:
    project.revisions(2)
    result = ok(cli("stamp", "0001aa"))
    assert result.stdout.startswith("Stamping 1/1 base → 0001aa create table t0001 …")
    assert current_of(cli) == "0001aa"
    ok(cli("stamp", "--purge", "0002aa"))
    assert current_of(cli) == "0002aa (head)"
    sql = ok(cli("stamp", "0001aa", "--sql")).stdout
    assert (
        "INSERT INTO alembic_version (version_num) VALUES ('0001aa') RETURNING version_num;" in sql
    )
    assert current_of(cli) == "0002aa (head)"
    refused = cli("stamp", "--purge", "--sql", "head")
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[-1] == "Error: Can't use --purge with --sql mode"


def test_merge_and_edit(cli: Cli, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.revisions(1)
    ok(cli("revision", "-m", "a", "--rev-id", "bra1"))
    ok(cli("revision", "-m", "b", "--rev-id", "brb1", "--head", "0001aa", "--splice"))
    ok(cli("merge", "heads", "-m", "join", "--rev-id", "mrg1"))
    assert ok(cli("heads")).stdout == "mrg1 (head)\n"
    text = (project.versions / "mrg1_join.py").read_text()
    assert "down_revision: Union[str, Sequence[str], None] = ('bra1', 'brb1')" in text
    monkeypatch.setenv("EDITOR", "true")
    ok(cli("edit", "mrg1"))
    missing = cli("edit", "zzz9")
    assert missing.exit_code == 2
    assert missing.stderr == "Error: Can't locate revision identified by 'zzz9'\n"


def test_ensure_version_status_plan(cli: Cli, project: Project) -> None:
    project.revisions(2)
    ok(cli("ensure-version"))
    assert current_of(cli) == ""
    assert "CREATE TABLE alembic_version" in ok(cli("ensure-version", "--sql")).stdout
    status = cli("status")
    assert status.exit_code == 4
    assert status.stdout == (
        "Current: base\n"
        "Heads:   0002aa\n"
        "Pending: 2\n"
        "revision  from    message\n"
        "0001aa    base    create table t0001\n"
        "0002aa    0001aa  create table t0002\n"
    )
    plan = ok(cli("plan", "0001aa")).stdout
    assert "CREATE TABLE t0001" in plan and "t0002" not in plan
    ok(cli("upgrade", "0001aa"))
    plan = ok(cli("plan")).stdout
    assert plan.startswith("-- Running upgrade 0001aa -> 0002aa\n")
    assert "CREATE TABLE t0001" not in plan
    ok(cli("upgrade", "head"))
    assert ok(cli("status")).stdout == "Current: 0002aa\nHeads:   0002aa\nUp to date.\n"
    assert ok(cli("plan")).stdout == "Nothing to do: the database is at 0002aa.\n"


def test_show_config(cli: Cli, project: Project) -> None:
    report = json.loads(ok(cli("show-config", "--json")).stdout)
    assert report["config_file"] == str(project.ini)
    assert report["engine"] == {
        "url": f"sqlite+aiosqlite:///{project.path}/app.db",
        "poolclass": "NullPool",
    }
    assert report["keys"][0]["source"] == "alembic.ini:[alembic]"
    assert report["alembic"]["script_location"]["value"] == f"{project.path}/migrations"
    text = ok(cli("show-config")).stdout
    assert text.startswith(
        f"Engine (config: {project.ini}, section [alembic], poolclass=NullPool)\n"
    )


# -- global options ----------------------------------------------------------------------------
def test_config_elsewhere_via_flag_and_alembic_config(cli: Cli, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "elsewhere")
    proj.revisions(1)
    (tmp_path / "work").mkdir()
    ini = str(proj.ini)
    ok(cli("-c", ini, "upgrade", "head"))
    assert (proj.path / "app.db").is_file()  # %(here)s is the ini's directory
    assert current_of(cli, "-c", ini) == "0001aa (head)"
    assert ok(cli("current", env={"ALEMBIC_CONFIG": ini})).stdout == "0001aa (head)\n"
    missing = cli("-c", "nowhere.ini", "current")
    assert missing.exit_code == 2
    assert missing.stderr == "Error: config file nowhere.ini not found\n"


def test_name_selects_ini_section(cli: Cli, project: Project) -> None:
    project.revisions(1)
    ini = project.ini.read_text()
    project.ini.write_text(
        ini + "\n[other]\nscript_location = %(here)s/migrations\n"
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/other.db\n"
    )
    ok(cli("-n", "other", "upgrade", "head"))
    assert (project.path / "other.db").is_file()
    assert not (project.path / "app.db").exists()
    assert current_of(cli, "-n", "other") == "0001aa (head)"
    missing = cli("-n", "nope", "current")
    assert missing.exit_code == 2
    assert missing.stderr == "Error: no section [nope] in alembic.ini: check -n/--name\n"


def test_x_arguments_reach_env_py(cli: Cli, project: Project) -> None:
    (project.path / "migrations" / "env.py").write_text(RECORDING_ENV)
    ok(cli("-x", "tenant=acme", "-x", "dry=1", "upgrade", "head"))
    assert seen(project)["x"] == {"tenant": "acme", "dry": "1"}
    # A bare word, as real env.py files use (-x dry-run), reaches env.py as Alembic passes it.
    ok(cli("-x", "novalue", "upgrade", "head"))
    assert seen(project)["x"] == {"novalue": ""}


def test_quiet_and_version(cli: Cli, project: Project) -> None:
    """-q hides progress, summaries and logging, never the data asked for."""
    project.revisions(2)
    result = ok(cli("-q", "upgrade", "head"))
    assert (result.stdout, result.stderr) == ("", "")
    assert ok(cli("-q", "current")).stdout == "0002aa (head)\n"
    assert ok(cli("-q", "heads")).stdout == "0002aa (head)\n"
    assert (
        ok(cli("-q", "history", "-r", "0002aa:")).stdout
        == "0001aa -> 0002aa (head), create table t0002\n"
    )
    assert ok(cli("-q", "show", "0002aa")).stdout.startswith("Rev: 0002aa (head)\n")
    assert ok(cli("-q", "status")).stdout == ""
    assert ok(cli("--version")).stdout == f"asyncmig {__version__}\n"


# -- pyproject.toml ----------------------------------------------------------------------------
def test_pyproject_async_template(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init", "-t", "pyproject_async", "migrations"))
    assert "[tool.alembic]" in (tmp_path / "pyproject.toml").read_text()
    url = f"sqlite+aiosqlite:///{tmp_path}/toml.db"
    ok(cli("--url", url, "revision", "-m", "first", "--rev-id", "tom1"))
    ok(cli("--url", url, "upgrade", "head"))
    assert current_of(cli, "--url", url) == "tom1 (head)"
    report = json.loads(ok(cli("--url", url, "show-config", "--json")).stdout)
    assert report["config_file"] == str(tmp_path / "alembic.ini")
    assert report["toml_file"] == str(tmp_path / "pyproject.toml")
    assert report["alembic"]["script_location"] == {
        "value": f"{tmp_path}/migrations",
        "source": "pyproject.toml:[tool.alembic]",
    }


def test_pyproject_only_with_url_flag(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.alembic]\nscript_location = "%(here)s/migrations"\n'
    )
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text(RECORDING_ENV)
    (tmp_path / "migrations" / "script.py.mako").write_text(
        (
            Path(__file__).parents[2] / "asyncmig" / "templates" / "asyncmig" / "script.py.mako"
        ).read_text()
    )
    write_revisions(tmp_path / "migrations" / "versions", 2)
    url = f"sqlite+aiosqlite:///{tmp_path}/only.db"
    ok(cli("--url", url, "-x", "k=v", "upgrade", "head"))
    assert json.loads((tmp_path / "seen.json").read_text())["x"] == {"k": "v"}
    assert current_of(cli, "--url", url) == "0002aa (head)"
    no_url = cli("current")
    assert no_url.exit_code == 2
    assert no_url.stderr == (
        "Error: no database URL: set sqlalchemy.url in the config file, "
        "DATABASE_URL or ASYNCMIG_URL, or pass --url\n"
    )


def test_ini_and_pyproject_together(cli: Cli, project: Project) -> None:
    """script_location from pyproject.toml, the URL from alembic.ini (with %(here)s)."""
    ini = project.ini.read_text().replace("script_location = ", "# script_location = ")
    project.ini.write_text(ini)
    (project.path / "migrations").rename(project.path / "mig2")
    (project.path / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/mig2"\n'
    )
    write_revisions(project.path / "mig2" / "versions", 1)
    ok(cli("upgrade", "head"))
    assert (project.path / "app.db").is_file()
    assert current_of(cli) == "0001aa (head)"


# -- PostgreSQL ----------------------------------------------------------------------------------
def test_postgres_migration_commands(cli: Cli, project: Project, pg_url: str) -> None:
    project.revisions(3)
    db = ("--url", pg_url)
    ok(cli(*db, "ensure-version"))
    assert current_of(cli, *db) == ""
    assert cli(*db, "status").exit_code == 4
    ok(cli(*db, "upgrade", "+2"))
    assert current_of(cli, *db) == "0002aa"
    assert "0001aa -> 0002aa (current), create table t0002" in ok(cli(*db, "history", "-i")).stdout
    behind = cli(*db, "check")
    assert behind.exit_code == 4
    assert behind.stderr.endswith("Error: Target database is not up to date\n")
    ok(cli(*db, "upgrade", "head"))
    assert current_of(cli, *db) == "0003aa (head)"
    ok(cli(*db, "downgrade", "-1"))
    assert current_of(cli, *db) == "0002aa"
    ok(cli(*db, "stamp", "head"))
    assert ok(cli(*db, "status")).stdout.endswith("Up to date.\n")
    ok(cli(*db, "stamp", "--purge", "0002aa"))
    assert current_of(cli, *db) == "0002aa"
    ok(cli(*db, "downgrade", "base"))
    assert ok(cli(*db, "current", "-v")).stdout.startswith(
        "Current revision(s) for postgresql+asyncpg://postgres@127.0.0.1:5432/"
    )
    assert current_of(cli, *db) == ""


def test_postgres_check_model_drift(cli: Cli, project: Project, pg_url: str) -> None:
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(models_env())
    project.revisions(1)
    ok(cli("--url", pg_url, "upgrade", "head"))
    ok(cli("--url", pg_url, "check"))
    env_py.write_text(models_env("email"))
    drift = cli("--url", pg_url, "check")
    assert drift.exit_code == 4
    assert "Error: model drift: New upgrade operations detected: [('add_column'" in drift.stderr


def test_empty_autogenerate_writes_no_file_unless_allow_empty(cli: Cli, project: Project) -> None:
    """Alembic's cookbook recipe "don't generate empty migrations", built in."""
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(models_env())
    ok(cli("revision", "--autogenerate", "-m", "models", "--rev-id", "auto1"))
    ok(cli("upgrade", "head"))
    result = ok(cli("revision", "--autogenerate", "-m", "nothing", "--rev-id", "auto2"))
    assert revision_files(project) == ["auto1_models.py"]
    assert result.stderr.splitlines()[-1] == (
        "asyncmig: no changes in the models: no revision written (--allow-empty writes one anyway)"
    )
    ok(cli("revision", "--autogenerate", "--allow-empty", "-m", "nothing", "--rev-id", "auto2"))
    assert revision_files(project) == ["auto1_models.py", "auto2_nothing.py"]
