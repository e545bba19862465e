"""The installed ``asyncmig`` console script, run as a user runs it (a clean environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from asyncmig.options import CI_COMMIT_VARIABLES

#: Variables a test must not inherit from the shell that started pytest.
ENV_PREFIXES = (
    "ASYNCMIG_",
    "DATABASE_URL",
    "ALEMBIC_CONFIG",
    "GITHUB_ACTIONS",
    "NO_COLOR",
    # --deploy-id's default: a CI job's commit would show up in every history row
    *CI_COMMIT_VARIABLES,
)
#: The installed ``asyncmig`` script (the one beside this Python).
SCRIPT = str(Path(sys.executable).with_name("asyncmig"))


def clean_environ() -> dict[str, str]:
    """This process's environment without the variables asyncmig reads."""
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}


def run_script(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``asyncmig`` console script (the one beside this Python)."""
    full_env = clean_environ()
    full_env.update(env or {})
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
