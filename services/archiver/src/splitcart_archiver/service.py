"""The archiver's logic: which archives an event makes stale, and building them.

Consumers only mark archives dirty (``mark_for_event``, inside the delivery's transaction).
:class:`Archiver` builds them: ``build_pending`` takes the debounced dirty list in batches,
``build`` builds on demand. Each file is written from one read session, then its manifest
row, the clearing of its dirty mark and its ``archive.built`` event commit together in one
short write transaction, opened after the read is closed (never nested: SQLite writers take
the database's one write lock).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from splitcart_shared.clock import clock
from splitcart_shared.db import Database
from splitcart_shared.errors import DomainError, NotFound
from splitcart_shared.events import (
    ArchiveBuilt,
    GroupAnchorChanged,
    GroupMerged,
    Payload,
    StoreEjected,
    StoreIngested,
    StoresDiscovered,
)
from splitcart_shared.logging import get_logger
from splitcart_shared.outbox import Outbox
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_archiver import repository
from splitcart_archiver.builder import BuiltArchive, CompanyCache, build_company, build_store
from splitcart_archiver.models import COMPANY_ARCHIVE
from splitcart_archiver.settings import ArchiverSettings

log = get_logger(__name__)

TOPICS = [
    "store.ingested",
    "group.merged",
    "store.ejected",
    "group.anchor_changed",
    "stores.discovered",
]

# --- which archives an event makes stale ---------------------------------------------------


async def stale_archives(session: AsyncSession, payload: Payload) -> list[str]:
    """Store ids (COMPANY_ARCHIVE for the company file) whose archive ``payload`` changes.

    - ``store.ingested``: the store, and every current member of the group it anchors
      (they inherit its prices).
    - ``group.merged``: the moved stores (their anchor changed), and the company file.
    - ``store.ejected``: the ejected store, and the company file.
    - ``group.anchor_changed``: the group's members, old and new anchor, the company file.
    - ``stores.discovered``: the company file.
    """
    if isinstance(payload, StoreIngested):
        members = await repository.members_of_anchor(session, payload.company, payload.store_id)
        return [payload.store_id, *members]
    if isinstance(payload, GroupMerged):
        return [COMPANY_ARCHIVE, *payload.moved_store_ids]
    if isinstance(payload, StoreEjected):
        return [COMPANY_ARCHIVE, payload.store_id]
    if isinstance(payload, GroupAnchorChanged):
        return [COMPANY_ARCHIVE, *await _anchor_change(session, payload)]
    if isinstance(payload, StoresDiscovered):
        return [COMPANY_ARCHIVE]
    raise DomainError(f"the archiver does not handle {payload.event_type}")


async def _anchor_change(session: AsyncSession, payload: GroupAnchorChanged) -> list[str]:
    members = payload.member_store_ids or await repository.members_of_group(
        session, payload.group_id
    )
    anchors = [payload.new_anchor_store_id, payload.old_anchor_store_id]
    return [*members, *(a for a in anchors if a is not None)]


async def mark_for_event(session: AsyncSession, payload: Payload) -> list[str]:
    """Mark what ``payload`` makes stale; idempotent (a mark is an upsert)."""
    company: str = getattr(payload, "company")  # noqa: B009 - every handled payload has one
    stale = await stale_archives(session, payload)
    await repository.mark_dirty(session, company, stale, payload.event_type, clock.now())
    return stale


# --- serving -------------------------------------------------------------------------------


async def manifest(db: Database, company: str | None = None) -> list[dict[str, Any]]:
    async with db.read() as session:
        return await repository.manifest(session, company)


async def archive_file(
    db: Database, settings: ArchiverSettings, company: str, store_id: str
) -> tuple[Path, dict[str, Any]]:
    """The file of an archive (COMPANY_ARCHIVE for the company's) and its manifest row."""
    async with db.read() as session:
        entry = await repository.manifest_entry(session, company, store_id)
    if entry is None:
        raise NotFound("no archive built yet", company=company, store_id=store_id or None)
    path = Path(settings.archive_root) / entry["path"]
    if not path.is_file():
        raise NotFound("archive file missing", path=entry["path"])
    return path, entry


# --- building ------------------------------------------------------------------------------


class Progress(Protocol):
    def total(self, count: int) -> None: ...

    def advance(self, built: BuiltArchive) -> None: ...


@dataclass(frozen=True)
class Target:
    company: str
    store_id: str  # COMPANY_ARCHIVE for the company file
    marks: int | None = None  # the dirty mark this build satisfies, if any


class Archiver:
    """Builds archives and records them; shared by the worker, the CLI and tests."""

    def __init__(
        self,
        db: Database,
        settings: ArchiverSettings,
        outbox: Outbox,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.outbox = outbox
        self.kick = kick

    @property
    def root(self) -> Path:
        return Path(self.settings.archive_root)

    async def build(
        self,
        company: str | None = None,
        store: str | None = None,
        progress: Progress | None = None,
    ) -> list[BuiltArchive]:
        """Build on demand: everything, one company (its file and all its stores) or one
        store (``company`` required)."""
        targets = await self._targets(company, store)
        if progress is not None:
            progress.total(len(targets))
        return await self._build_all(targets, progress, background=False)

    async def build_pending(self, limit: int | None = None) -> list[BuiltArchive]:
        """Build one batch of dirty archives whose debounce has passed."""
        now, s = clock.now(), self.settings
        async with self.db.read() as session:
            rows = await repository.due(
                session,
                now - timedelta(seconds=s.archive_debounce_seconds),
                now - timedelta(seconds=s.archive_max_delay_seconds),
                limit or s.archive_batch,
            )
        targets = [Target(r["company"], r["store_id"], int(r["marks"])) for r in rows]
        return await self._build_all(targets, None, background=True)

    async def run_worker(self, stopping: asyncio.Event) -> None:
        """The background builder: a batch, then a pause unless the batch was full."""
        while not stopping.is_set():
            built: list[BuiltArchive] = []
            try:
                built = await self.build_pending()
            except Exception:
                log.exception("archive.batch_failed")
            if len(built) < self.settings.archive_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.settings.archive_poll_seconds)

    async def _targets(self, company: str | None, store: str | None) -> list[Target]:
        if store is not None and company is None:
            raise DomainError("--store needs --company (store ids are per company)")
        async with self.db.read() as session:
            companies = await repository.company_names(session, company)
            if company is not None and not companies:
                raise NotFound(f"no company {company!r}", company=company)
            if store is not None:
                assert company is not None
                return [
                    Target(company, store, await repository.dirty_marks(session, company, store))
                ]
            targets: list[Target] = []
            for name in companies:
                marks = {r["store_id"]: r["marks"] for r in await repository.dirty(session, name)}
                ids = [COMPANY_ARCHIVE, *await repository.store_ids(session, name)]
                targets.extend(Target(name, i, marks.get(i)) for i in ids)
            return targets

    async def _build_all(
        self, targets: Sequence[Target], progress: Progress | None, *, background: bool
    ) -> list[BuiltArchive]:
        built: list[BuiltArchive] = []
        for company, batch in _by_company(targets):
            cache = CompanyCache(company, self.settings.archive_chunk)
            for target in await self._by_group(company, batch):
                archive = await self._build_one(target, cache, background=background)
                if archive is not None:
                    built.append(archive)
                    if progress is not None:
                        progress.advance(archive)
        if built:
            self.kick()
        return built

    async def _by_group(self, company: str, targets: list[Target]) -> list[Target]:
        """Members of one group one after the other: they share their inherited points."""
        async with self.db.read() as session:
            group_of = await repository.group_of_stores(session, company)
        return sorted(targets, key=lambda t: (group_of.get(t.store_id, t.store_id), t.store_id))

    async def _build_one(
        self, target: Target, cache: CompanyCache, *, background: bool
    ) -> BuiltArchive | None:
        """On demand, errors reach the caller; in the background a failed archive is logged
        and stays dirty (retried next batch) without holding up the others."""
        try:
            archive = await self._write(target, cache)
        except NotFound:
            if not background:
                raise
            # A store or company the catalogue does not know: nothing to archive.
            log.warning("archive.unknown_target", company=target.company, store_id=target.store_id)
            await self._forget(target)
            return None
        except Exception:
            if not background:
                raise
            log.exception("archive.failed", company=target.company, store_id=target.store_id)
            return None
        await self._record(target, archive)
        log.info(
            "archive.built", company=target.company, store_id=target.store_id, bytes=archive.bytes
        )
        return archive

    async def _write(self, target: Target, cache: CompanyCache) -> BuiltArchive:
        chunk = self.settings.archive_chunk
        async with self.db.read() as session:
            await _snapshot(session)
            if target.store_id == COMPANY_ARCHIVE:
                return await build_company(session, self.root, target.company, chunk)
            return await build_store(session, self.root, cache, target.store_id)

    async def _record(self, target: Target, archive: BuiltArchive) -> None:
        async with self.db.transaction() as session:
            await repository.record_manifest(session, archive.manifest_row())
            if target.marks is not None:
                await repository.clear_dirty(session, target.company, target.store_id, target.marks)
            await self.outbox.add(session, _event(archive))

    async def _forget(self, target: Target) -> None:
        if target.marks is None:
            return
        async with self.db.transaction() as session:
            await repository.clear_dirty(session, target.company, target.store_id, target.marks)


async def _snapshot(session: AsyncSession) -> None:
    """Every query of one file sees the same data (a SQLite read transaction already reads
    one WAL snapshot)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def _by_company(targets: Iterable[Target]) -> list[tuple[str, list[Target]]]:
    grouped: dict[str, list[Target]] = {}
    for target in targets:
        grouped.setdefault(target.company, []).append(target)
    return list(grouped.items())


def _event(archive: BuiltArchive) -> ArchiveBuilt:
    return ArchiveBuilt(
        company=archive.company,
        store_id=archive.store_id or None,
        path=archive.path,
        sha256=archive.sha256,
        bytes=archive.bytes,
        rows=archive.products,
    )
