"""Group commit: how the ingress makes a request durable before it answers, at thousands a second.

Design. Each worker process keeps one ``Journal`` per landing kind (signups, unsubscribes):
an append-only temp file in the kind's landing folder (``journal_files.py``: a hidden
``.journal-<host>-<pid>-<n>.jsonl.tmp`` under an exclusive flock). A request hands its line to
``append`` and waits. One writer task takes every line that is pending, writes them with one
``write`` and makes them durable with one ``fdatasync`` in a thread (the event loop keeps
serving meanwhile), then wakes each waiting request. While one batch is being synced the next
one gathers, so under load each sync covers many requests and the sync rate, not the request
rate, is what the disk sees. Every ``rotate_seconds`` (once it holds a line) or
``rotate_records`` lines, and at shutdown, the journal is completed: it takes its
``<prefix>-<host>-<pid>-<n>.jsonl`` name by a link that never replaces another file, the folder
is fsynced, and the temp name goes. Readers (the landing sensor) see only complete names, so
they never see a file that is still growing, and every line they see is whole.

Durability argument. A request is answered 202 only after its whole line and every line
before it were written and ``fdatasync`` returned, so an acknowledged line is on the disk (the
file's size included, and its name: the folder was fsynced when the journal was created).
- The worker is killed (SIGKILL, OOM) at any point: the temp journal stays, its flock is
  released by the kernel. Every worker's startup, and each worker every ``recover_seconds``,
  completes such orphans (``recover_orphans``): cut after the last newline (a torn tail was
  never acknowledged) and given its complete name; if the dead writer had already linked it,
  the temp name is only removed. A live writer's journal is never touched: its lock is held.
- A write or a sync fails (a full disk, an I/O error): the batch's requests get an error
  (503), the file is cut back to its last durable size, and the journal is completed with
  what was durable before; the next batch opens a new one. After a failed ``fsync`` Linux may
  have dropped the dirty pages, so that file is never written again. If the cut fails too, an
  unacknowledged line may land: delivery is at least once, and the sequences domain records
  a repeated signup as a duplicate.
- The machine loses power: what was acknowledged was synced, names included; temp journals
  are recovered at the next start.

On an object store (``CAMPAIGN_DATA_URL=s3://...``) there is no file to append to, and none
is needed: each batch is one complete ``<prefix>-<host>-<pid>-<n>.jsonl`` object, created with
one PUT that never replaces another (``journal_files.put_complete``), and the batch's requests
are answered once that PUT returned. Nothing is left to recover; a PUT that fails is a 503
(if the store took it anyway, its lines land once more: at least once, as above).

A journal is opened only when a line arrives and completed within ``rotate_seconds``, so no
live journal is ever old; an orphan left while no ingress runs for a day is what the landing
sensor refuses as an abandoned temp file (``landing_arrivals``): moved to ``rejected/`` with
its report, still not lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path

from campaign_pipelines.adapters.storage import as_path, is_local, storage_for
from campaign_pipelines.ingress import journal_files
from campaign_pipelines.ingress.journal_files import JournalFile

log = logging.getLogger("campaign_pipelines.ingress")

class JournalError(OSError):
    """The line was not made durable; the request must be refused, not acknowledged."""


class Journal:
    def __init__(
        self,
        folder: Path,
        prefix: str,
        *,
        rotate_seconds: float = 1.0,
        rotate_records: int = 10_000,
        recover_seconds: float = 10.0,
    ):
        self.folder = as_path(folder)
        self._remote = not is_local(self.folder)  # batches go as whole objects
        self.prefix = prefix
        self.rotate_seconds = rotate_seconds
        self.rotate_records = rotate_records
        self.recover_seconds = recover_seconds
        self._tag = journal_files.process_tag()
        self._numbers = itertools.count()
        self._file: JournalFile | None = None
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._recovered_at = 0.0

    async def start(self) -> list[Path]:
        """Creates the folder, completes the orphans of dead writers, starts the writer."""
        storage_for(self.folder).make_folder(self.folder)
        recovered = await asyncio.to_thread(self._recover)
        self._task = asyncio.create_task(self._run(), name=f"journal {self.folder}")
        return recovered

    async def append(self, line: bytes) -> None:
        """Returns once ``line`` (one JSON line, newline included) is durable; JournalError
        if it could not be made durable."""
        if self._closing or self._task is None or self._task.done():
            raise JournalError("the ingress is shutting down")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((line, future))
        self._wake.set()
        await future

    async def close(self) -> None:
        """Writes what is pending, completes the journal, stops the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        try:
            while True:
                if not self._pending and not self._closing:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._idle_seconds())
                    except TimeoutError:
                        pass
                self._wake.clear()
                batch, self._pending = self._pending, []
                if batch:
                    await self._commit(batch)
                if self._closing and not self._pending:
                    break
                await self._maintain()
        finally:
            for _, future in self._pending:
                if not future.done():
                    future.set_exception(JournalError("the ingress stopped"))
            await asyncio.to_thread(self._abandon)

    async def _commit(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        data = b"".join(line for line, _ in batch)
        try:
            await asyncio.to_thread(self._write, data, len(batch))
        except OSError as error:
            failure = JournalError(error.errno, f"the landing folder refused the write: {error}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            await asyncio.to_thread(self._abandon)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _maintain(self) -> None:
        journal = self._file
        if journal is not None and journal.records and (
            journal.records >= self.rotate_records
            or time.monotonic() - journal.opened_at >= self.rotate_seconds
        ):
            await asyncio.to_thread(self._abandon)
        if time.monotonic() - self._recovered_at >= self.recover_seconds:
            await asyncio.to_thread(self._recover)

    def _idle_seconds(self) -> float:
        now = time.monotonic()
        until = self._recovered_at + self.recover_seconds - now
        if self._file is not None and self._file.records:
            until = min(until, self._file.opened_at + self.rotate_seconds - now)
        return max(until, 0.001)

    # In the writer's thread:

    def _write(self, data: bytes, records: int) -> None:
        if self._remote:
            journal_files.put_complete(self.folder, self.prefix, self._tag, self._numbers, data)
            return
        if self._file is None:
            self._file = journal_files.open_journal(self.folder, self._tag, self._numbers)
        journal_files.append(self._file, data, records)

    def _complete(self) -> None:
        journal, self._file = self._file, None
        if journal is not None:
            journal_files.complete(journal, self.prefix)

    def _abandon(self) -> None:
        """Completes the journal (at rotation, or with what was durable after a failed write);
        if that fails, the file is closed and left to recovery (its lock goes with the
        descriptor), and the writer goes on with a new journal."""
        try:
            self._complete()
        except OSError as error:
            log.error("could not complete a journal in %s (recovery will): %s", self.folder, error)

    def _recover(self) -> list[Path]:
        self._recovered_at = time.monotonic()
        if self._remote:
            return []  # every batch was a whole object: no temp journal to complete
        try:
            return journal_files.recover_orphans(self.folder, self.prefix)
        except OSError as error:  # tried again in recover_seconds; live journals do not wait
            log.error("could not recover the journals in %s: %s", self.folder, error)
            return []
