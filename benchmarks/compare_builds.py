"""Build the demo on two commits and compare every published table (EXCEPT ALL both ways).

    python benchmarks/compare_builds.py BASE [HEAD] [--users 3000 --days 120 --seed 42]

Each commit is checked out in a temporary git worktree and runs its own `winback run` (with
this environment's packages) on the same landing files, generated once by BASE's generator.
Prints, per table (or view) of the published DuckDB files, the rows only in BASE and only in
HEAD, leaving out `scored_at` (when a churn score was written); exits 1 when any table differs
or exists on one side only. For changes that must not change a number (a refactor).
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


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    """The tables and views of a published DuckDB file (attached as `catalog`): the per-day
    marts are views there, with no Parquet copy."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_catalog = ?", [catalog]
    ).fetchall()
    return {r[0] for r in rows}


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_catalog = ? "
        "and table_name = ? order by ordinal_position",
        [catalog, table],
    ).fetchall()
    return [r[0] for r in rows]


def compare(base: Path, head: Path, ignore: tuple[str, ...] = ("scored_at",)) -> dict:
    """Rows only in base and only in head, per table or view of the two published DuckDB files
    (-1: missing on that side). Columns in `ignore` (the time a row was written) are left out."""
    out = {}
    with duckdb.connect() as con:
        con.execute("attach ? as base (read_only)", [str(base / "winback.duckdb")])
        con.execute("attach ? as head (read_only)", [str(head / "winback.duckdb")])
        left, right = _tables(con, "base"), _tables(con, "head")
        for table in sorted(left | right):
            if table not in left or table not in right:
                out[table] = (-1 if table not in left else 0, -1 if table not in right else 0)
                continue
            columns = ", ".join(f'"{c}"' for c in _columns(con, "base", table) if c not in ignore)
            diff = 'select count(*) from (select {c} from {a}.main."{t}" except all select {c} from {b}.main."{t}")'
            out[table] = (
                con.execute(diff.format(c=columns, a="base", b="head", t=table)).fetchone()[0],
                con.execute(diff.format(c=columns, a="head", b="base", t=table)).fetchone()[0],
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
    # a table only in head is an addition (it changes no number that was published)
    same = all(v in ((0, 0), (-1, 0)) for v in result.values())
    print("identical" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
