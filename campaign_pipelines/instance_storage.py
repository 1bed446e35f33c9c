"""The local Dagster instance's run and event storage: Dagster's SQLite storages, with each
database's connection kept open and commits synced at WAL checkpoints, not on every event.

Dagster's SQLite storages build a new SQLAlchemy engine and connection for every read and every
write, and SQLite in WAL mode with its default ``synchronous=FULL`` syncs the disk at every
commit. A 3-IIN campaign run stores about 170 events and reads the storage about a thousand
times: that cost 9 of the 12.5 s the run took on a 2-core host with a busy disk, and 3 s with
these classes (README, "Speed of a run").

Durability: with WAL and ``synchronous=NORMAL`` a committed event survives the process being
killed; a power loss or an OS crash may lose the last commits, never corrupt a database (SQLite's
documentation of ``PRAGMA synchronous``). That is the trade for the embedded, single-machine
instance; a production instance keeps its storage in PostgreSQL.

Dagster also asks the storage, at each step's inputs and outputs, whether the run's dynamic
partition exists (about 150 times in a campaign run) and, before each such question and each
asset-check event, whether a table exists, through a new engine each time: a third of a run's
storage time. A table found is remembered (tables are only ever added); a partition found is
taken as there for ``PARTITION_SEEN_S`` without asking again (a partition deleted in this
process is forgotten at once; one deleted by another process is noticed within that time).

A step waiting for a pool's slot (the ``warehouse`` pool) waits here, in
``claim_concurrency_slot``. Dagster 1.13's executors re-check a blocked claim in a loop whose
sleep is never positive (``InstanceConcurrencyContext.interval_to_next_pending_claim_check``
returns at most 0), so a step waiting for the slot kept a core busy for as long as it waited.
A blocked claim now sleeps ``CLAIM_RECHECK_S`` before it answers and asks to be checked again
at once: the slot is looked at twice a second, and the wait costs no CPU.

The files are where Dagster's default storage keeps them (``$DAGSTER_HOME/history``), so a home
made before keeps its history. The instance settings (config/instance/dagster.yaml) name these
classes without config: they take the directory of the instance that loads them (Dagster hands
every storage its instance before using it), so an instance opened from any home, or a
temporary one, keeps its storage in its own directory.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._record import copy
from dagster._serdes import ConfigurableClassData
from dagster._utils.concurrency import ConcurrencyClaimStatus

# A run worker writes its run's database and the index; the webserver reads many runs'. Engines
# past this many, least recently used first, are closed.
OPEN_DATABASES = 16
CLAIM_RECHECK_S = 0.5
PARTITION_SEEN_S = 5.0


def _engine(conn_string: str) -> sa.Engine:
    engine = sa.create_engine(
        conn_string,
        pool_size=1,
        max_overflow=4,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
    )

    @sa.event.listens_for(engine, "connect")
    def _sync_at_checkpoints(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    return engine


class _Engines:
    """One engine per database file, the least recently used closed past OPEN_DATABASES."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, sa.Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn_string: str) -> sa.Engine:
        with self._lock:
            engine = self._open.pop(conn_string, None) or _engine(conn_string)
            self._open[conn_string] = engine
            while len(self._open) > OPEN_DATABASES:
                self._open.popitem(last=False)[1].dispose()
            return engine

    def close_all(self) -> None:
        with self._lock:
            for engine in self._open.values():
                engine.dispose()
            self._open.clear()


def _history(instance: Any, *parts: str) -> str:
    return os.path.join(instance.root_directory, "history", *parts)


class _InTheInstanceHome:
    """Built from no config: the storage opens its files when Dagster hands it its instance
    (``register_instance``, before any use), in that instance's home."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._engines = _Engines()

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):
        return cls(inst_data=inst_data)

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engines.close_all()


class LocalEventLogStorage(_InTheInstanceHome, SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log (``history/runs/`` in the home), connections kept."""

    def register_instance(self, instance: Any) -> None:
        SqliteEventLogStorage.__init__(self, _history(instance, "runs"), inst_data=self._inst_data)
        self._tables_found: set[str] = set()
        self._partitions_seen: dict[tuple[str, str], float] = {}
        super().register_instance(instance)

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables_found:
            return True
        # Not through _connect: Dagster may ask while it holds that lock (the question used to
        # open a connection of its own).
        engine = self._engines.get(self.conn_string_for_shard(INDEX_SHARD_NAME))
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        key = (partitions_def_name, partition_key)
        seen = self._partitions_seen.get(key)
        if seen is not None and time.monotonic() - seen < PARTITION_SEEN_S:
            return True
        found = super().has_dynamic_partition(partitions_def_name, partition_key)
        if found:
            self._partitions_seen[key] = time.monotonic()
        return found

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self._partitions_seen.pop((partitions_def_name, partition_key), None)
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:  # type: ignore[override]
        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None
    ) -> ConcurrencyClaimStatus:
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        if status.is_claimed:
            return status
        time.sleep(CLAIM_RECHECK_S)  # the executor's own wait never sleeps (module docstring)
        return copy(status, sleep_interval=0.0)

    def wipe(self) -> None:
        self._engines.close_all()  # before the run databases' files are deleted
        self._partitions_seen.clear()
        super().wipe()


class LocalRunStorage(_InTheInstanceHome, SqliteRunStorage):
    """Dagster's SQLite run storage (``history/runs.db`` in the home), its connection kept."""

    def register_instance(self, instance: Any) -> None:
        made = SqliteRunStorage.from_local(_history(instance))  # creates or migrates the file
        SqliteRunStorage.__init__(self, made._conn_string, inst_data=self._inst_data)  # noqa: SLF001
        super().register_instance(instance)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self._engines.get(self._conn_string).connect() as conn, conn.begin():
            yield conn
