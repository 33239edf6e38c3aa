"""Build the demo on two commits and compare every published table (EXCEPT ALL both ways).

    python benchmarks/compare_builds.py BASE [HEAD] [--users 3000 --days 120 --seed 42]

Each commit is checked out in a temporary git worktree and runs its own `winback run` (with
this environment's packages) on the same landing files, generated once by BASE's generator.
Prints, per table, the rows only in BASE and only in HEAD; exits 1 when any table differs or
exists on one side only. For changes that must not change a number (a refactor).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(into), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return into


def _cli_module(tree: Path) -> str:
    return "orchestration.cli" if (tree / "orchestration" / "cli.py").exists() else "winback.cli"


def _run(tree: Path, args: list[str], work: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "DAGSTER_HOME": str(work / "dagster_home"),
        "WINBACK_LOCK_WAIT": "0",
    }
    (work / "dagster_home").mkdir(parents=True, exist_ok=True)
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [sys.executable, "-m", _cli_module(tree), *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{tree}: winback {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _tables(published: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((published / "parquet").glob("*.parquet"))}


def compare(base: Path, head: Path) -> dict[str, tuple[int, int]]:
    """Rows only in base and only in head, per table (-1: the table is missing on that side)."""
    left, right = _tables(base), _tables(head)
    out = {}
    with duckdb.connect() as con:
        for table in sorted(set(left) | set(right)):
            if table not in left or table not in right:
                out[table] = (-1 if table not in left else 0, -1 if table not in right else 0)
                continue
            diff = "select count(*) from (select * from read_parquet(?) except all select * from read_parquet(?))"
            out[table] = (
                con.execute(diff, [str(left[table]), str(right[table])]).fetchone()[0],
                con.execute(diff, [str(right[table]), str(left[table])]).fetchone()[0],
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("head", nargs="?", default="HEAD")
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="winback-compare-") as tmp:
        work = Path(tmp)
        trees = {}
        try:
            for name, rev in (("base", args.base), ("head", args.head)):
                trees[name] = _worktree(rev, work / name / "tree")
            landing = work / "landing"
            _run(
                trees["base"],
                [
                    "generate",
                    "--landing-dir",
                    str(landing),
                    "--truth-dir",
                    str(work / "truth"),
                    "--users",
                    str(args.users),
                    "--days",
                    str(args.days),
                    "--seed",
                    str(args.seed),
                ],
                work / "base",
            )
            for name, tree in trees.items():
                print(f"building {name} ({getattr(args, name)}) ...", flush=True)
                _run(
                    tree,
                    [
                        "run",
                        "--landing-dir",
                        str(landing),
                        "--warehouse",
                        str(work / name / "warehouse.duckdb"),
                        "--publish-dir",
                        str(work / name / "published"),
                    ],
                    work / name,
                )
            result = compare(work / "base" / "published", work / "head" / "published")
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    print(f"{'table':<30} {'only in base':>12} {'only in head':>12}")
    for table, (only_base, only_head) in result.items():
        print(f"{table:<30} {only_base:>12,} {only_head:>12,}")
    same = all(v == (0, 0) for v in result.values())
    print("identical" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
