"""Dagster's SQLite run and event-log storage, with their database connections kept open.

Dagster's own SQLite storages create a SQLAlchemy engine, open the file, and throw both away
for every single write: a run of the marts records about 460 events, and each cost about
20 ms of CPU (connecting, closing, compiling the same statements again), 10 s of a demo run.
These subclasses keep one small connection pool per database file instead (the run shards of
the event log in a small LRU, since a process writes to one run at a time); everything else,
the files, their layout and their schema, is Dagster's, so a DAGSTER_HOME written by either
reads with the other, and `dagster dev` reads the runs `winback run` records.

`orchestration.dagster_home.dagster_yaml` configures them (written by `winback` and `make
dagster-home` into a new DAGSTER_HOME); a DAGSTER_HOME without them works as before, only
slower.
"""

from __future__ import annotations

import collections
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from sqlalchemy.pool import NullPool, QueuePool

# run shards a process keeps open: a run writes to its own shard and to the index
OPEN_SHARDS = 8


def _pooled_engine(conn_string: str, timeout: float | None = None):
    # connections are used by one thread at a time (the storages lock, or the pool hands each
    # thread its own), but may be reused by another thread later: hence check_same_thread
    connect_args = {"check_same_thread": False}
    if timeout is not None:
        connect_args["timeout"] = timeout
    return create_engine(
        conn_string, poolclass=QueuePool, pool_size=1, max_overflow=8, connect_args=connect_args
    )


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose shards (one database per run, and the index) keep their
    engine and an open connection between writes."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: collections.OrderedDict = collections.OrderedDict()
        self._engines_pid = os.getpid()
        self._template_bytes: bytes | None = None
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        if self._engines_pid != os.getpid():  # a forked child never shares the parent's files
            self._engines = collections.OrderedDict()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = _pooled_engine(self.conn_string_for_shard(shard), SQLITE_BUSY_TIMEOUT_SECONDS)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock:  # as Dagster's: one connection in use at a time
            if shard not in self._initialized_dbs and self._create_from_template(shard):
                self._initialized_dbs.add(shard)
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _create_from_template(self, shard: str) -> bool:
        """A new run's shard as a copy of an empty one Dagster initialised (its tables, WAL
        mode and alembic stamp), instead of creating the tables and loading alembic's revision
        map again: about 0.3 s of every run, 11 runs before a demo's marts. False when the
        shard exists (another process made it, or the run is not new): Dagster's own checks
        then apply."""
        if shard == INDEX_SHARD_NAME:
            return False
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        template = self._template()
        scratch = f"{path}.{os.getpid()}.{threading.get_ident()}.new"
        with open(scratch, "wb") as out:
            out.write(template)
        try:
            os.link(scratch, path)  # never over a shard that appeared meanwhile
        except FileExistsError:
            return False
        finally:
            os.unlink(scratch)
        return True

    def _template(self) -> bytes:
        if self._template_bytes is None:
            with tempfile.TemporaryDirectory() as folder:
                engine = create_engine(
                    create_db_conn_string(folder, "template"), poolclass=NullPool
                )
                self._initdb(engine)
                engine.dispose()  # the last connection closed: the WAL is checkpointed away
                with open(os.path.join(folder, "template.db"), "rb") as file:
                    self._template_bytes = file.read()
        return self._template_bytes

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        with self._db_lock:  # a deleted run writes nothing more: its connection is closed
            engine = self._engines.pop(run_id, None)
            if engine is not None:
                engine.dispose()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class PooledSqliteRunStorage(SqliteRunStorage):
    """`SqliteRunStorage` (runs.db) with one engine and its open connections for the process."""

    def __init__(self, conn_string: str, inst_data=None):
        super().__init__(conn_string, inst_data)
        self._engine_lock = threading.Lock()
        self._pooled = None
        self._pooled_pid = None

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)

    def _pooled_engine(self):
        with self._engine_lock:
            if self._pooled is None or self._pooled_pid != os.getpid():
                self._pooled = _pooled_engine(self._conn_string)
                self._pooled_pid = os.getpid()
            return self._pooled

    @contextmanager
    def connect(self) -> Iterator:
        with self._pooled_engine().connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        with self._engine_lock:
            if self._pooled is not None:
                self._pooled.dispose()
                self._pooled = None
