"""dbt's parse of the project for a warehouse's first build, started before the run needs it.
Imports neither Dagster nor dbt: `winback run` starts it first thing, so the parse (a dbt
process, about 7 s of CPU on the demo) runs on the other core while this one imports Dagster
and loads the landing files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from winback.settings import dbt_environment

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
PARTIAL_PARSE = "partial_parse.msgpack"


def dbt_target_dir(warehouse: Path) -> Path:
    """dbt's artifacts for one warehouse (manifest, run results, partial-parse state), beside it
    as its churn models are: dbt parses the whole project again (seconds) when the warehouse
    path differs from the one of the run that saved its state, and runs on two warehouses at
    once must not overwrite each other's run_results.json."""
    return Path(warehouse).parent / f"{Path(warehouse).stem}_dbt"


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a dbt process that is still running (then kill it if it will not end)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ParseAhead:
    """`dbt parse` for a warehouse that has no partial-parse state yet (its first build), in a
    subprocess: the build then parses only what changed (about a second) instead of the whole
    project (7 s on the demo, on the run's critical path). It does not open the warehouse.

    It may start before the run holds the warehouse's lock, so it writes to a scratch folder of
    its own; `wait`, called by the run under the lock before its build, moves the parse's state
    into the warehouse's target folder (unless a state appeared there meanwhile) and removes
    the scratch folder. Best effort: if the parse fails, the build parses as it would have and
    reports what is wrong with the project."""

    def __init__(self, warehouse: Path):
        self.process: subprocess.Popen | None = None
        self.target = dbt_target_dir(Path(warehouse))
        self.scratch = self.target.with_name(f"{self.target.name}.parse-{os.getpid()}")
        if (self.target / PARTIAL_PARSE).exists():
            return
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        project_dir = str(DBT_PROJECT_DIR)
        self.log = open(self.scratch / "parse_ahead.log", "w")  # noqa: SIM115 (closed by wait)
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dbt"), "parse", "--project-dir", project_dir]
            + ["--profiles-dir", project_dir, "--target-path", str(self.scratch)]
            + ["--log-path", str(self.scratch)],
            env={**os.environ, **dbt_environment(Path(warehouse))},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 300) -> None:
        """Wait for the parse and put its state in place (the caller holds the run lock)."""
        if self.process is None:
            return
        try:
            finished = self.process.wait(timeout=timeout) == 0
        except subprocess.TimeoutExpired:
            stop_process(self.process)
            finished = False
        finally:
            self.process = None
            self.log.close()
        state = self.scratch / PARTIAL_PARSE
        if finished and state.exists() and not (self.target / PARTIAL_PARSE).exists():
            self.target.mkdir(parents=True, exist_ok=True)
            os.replace(state, self.target / PARTIAL_PARSE)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def stop(self) -> None:
        """The run ends before its build (refused, nothing ingested, an error): no parse left
        behind, no scratch folder, and nothing of it in the target folder (the run may not
        hold the lock; dbt may even end a terminated parse cleanly and write its state)."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None
            self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
