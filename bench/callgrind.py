"""Instruction counts (valgrind's callgrind) of asyncmig against plain Alembic.

Wall times on a shared machine move with the load; the number of instructions a
process executes does not (within a fraction of a percent). This runs each command
once per tool under ``valgrind --tool=callgrind`` on the same projects bench.py builds
(PostgreSQL, both tools from cached bytecode) and prints the ratio of instructions.

    python bench/callgrind.py --n 300,1000
    python bench/callgrind.py --n 300 --ops "upgrade head (no-op),current,status"

Each process runs ~50 times slower under valgrind; the no-op commands take a minute or two
each. Output: a Markdown table (millions of instructions, ratio asyncmig / alembic).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench

COLLECTED = re.compile(r"Collected : (\d+)")
#: The commands worth counting: (asyncmig args, alembic args), run after one fresh upgrade.
OPS: dict[str, tuple[list[str], list[str]]] = {
    "--help": (["--help"], ["--help"]),
    "upgrade head (no-op)": (["upgrade", "head"], ["upgrade", "head"]),
    "current": (["current"], ["current"]),
    "status": (["status"], ["current"]),
    "history": (["history"], ["history"]),
    "history (terminal)": (["history"], ["history"]),
}


def instructions(cmd: list[str], cwd: Path, terminal: bool = False) -> int:
    """Instructions the process executed (its own, children not followed); with
    ``terminal``, valgrind runs under ``script`` so that stdout is a pseudo-terminal."""
    line = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd]
    if terminal:
        line = ["script", "-qec", " ".join(line), "/dev/null"]
    done = subprocess.run(
        line, cwd=cwd, env=bench.clean_env(), capture_output=True, text=True, check=False
    )
    found = COLLECTED.findall(done.stderr + done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-500:]}")
    return int(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", default="300", help="history sizes, comma-separated")
    parser.add_argument("--ops", default=",".join(OPS), help="commands, comma-separated")
    parser.add_argument("--pg", default=os.environ.get("ASYNCMIG_BENCH_PG", bench.PG_DEFAULT))
    args = parser.parse_args()
    backend = bench.Backend("postgresql", args.pg)
    rows = [
        "| N | command | asyncmig M instr. | alembic M instr. | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    work = Path(tempfile.mkdtemp(prefix="asyncmig-callgrind-"))
    try:
        for n in (int(x) for x in args.n.split(",")):
            projects = {}
            for tool in ("asyncmig", "alembic"):
                path = work / f"{n}-{tool}"
                url = backend.url(path, tool, n)
                bench.make_project(path, tool, n, url)
                backend.reset(path, url)
                bench.run([bench.EXE[tool], "upgrade", "head"], path)  # fresh: records
                bench.run([bench.EXE[tool], "upgrade", "head"], path)  # warm the caches
                projects[tool] = path
            for op in args.ops.split(","):
                am, al = OPS[op]
                # Untimed first: asyncmig's first run of a command records it for the
                # fast path; measured is the steady state of a deploy with nothing to do.
                bench.run([bench.ASYNCMIG, *am], projects["asyncmig"])
                bench.run([bench.ALEMBIC, *al], projects["alembic"])
                tty = op.endswith("(terminal)")
                a = instructions([bench.ASYNCMIG, *am], projects["asyncmig"], tty)
                b = instructions([bench.ALEMBIC, *al], projects["alembic"], tty)
                rows.append(f"| {n} | `{op}` | {a / 1e6:.0f} | {b / 1e6:.0f} | {a / b:.2f} |")
                print(rows[-1], flush=True)
    finally:
        backend.cleanup()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
