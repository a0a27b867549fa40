"""The grouping round and the full regroup: load, decide (engine), persist, emit.

A round runs per company over the stores marked dirty since the last one: re-read the
dirty stores' prices into the company's in-memory matrix, then in one transaction load
the stored groups, let the engine decide, write memberships, groups, history, evidence
and the events (outbox) together, and clear the dirty marks it consumed.
Rounds and regroups of one company never overlap (a lock per company); the grouper runs
as a single replica because the matrices live in its memory.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from splitcart_shared.clock import clock
from splitcart_shared.db import Database
from splitcart_shared.errors import Conflict, NotFound
from splitcart_shared.events import GroupAnchorChanged
from splitcart_shared.logging import get_logger
from splitcart_shared.outbox import Outbox
from splitcart_shared.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import engine, handover, repository
from splitcart_grouper.engine import (
    Comparator,
    FastComparator,
    GroupingParams,
    GroupingState,
    RoundResult,
)
from splitcart_grouper.loader import CompanyData, PriceCache, load_company, refresh_stores
from splitcart_grouper.outcome import Outcome, Replay, StoredState, diff_state
from splitcart_grouper.settings import GrouperSettings

log = get_logger(__name__)

FRESH_KINDS = ("full", "spot")


def new_group_id(_founder: str) -> str:
    # Opaque and unique across companies: the API names a group by id alone.
    return uuid.uuid4().hex


@dataclass
class Grouper:
    """What rounds and regroups need; one per running service (``runtime.state``)."""

    db: Database
    outbox: Outbox
    settings: GrouperSettings
    kick: Callable[[], None] = lambda: None
    cache: PriceCache = field(default_factory=PriceCache)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: Counter[str] = field(default_factory=Counter)

    def lock(self, company: str) -> asyncio.Lock:
        return self.locks.setdefault(company, asyncio.Lock())

    def noticed(self, company: str, stores: int) -> None:
        """A handler marked stores dirty: wake the worker early once a batch is due."""
        self.pending[company] += stores
        if self.pending[company] >= self.settings.grouper_round_batch:
            self.wake.set()

    async def company_data(self, company: str) -> CompanyData:
        """The company's matrix, loaded on first use in a short read of its own."""
        data = self.cache.get(company)
        if data is None:
            async with self.db.read() as session:
                data = await load_company(session, company)
            self.cache.put(data)
        return data

    def comparator(self, data: CompanyData, now: datetime) -> FastComparator:
        return FastComparator(data.prices, now, self.settings.grouping_params())


def grouper_of(target: Runtime | Grouper) -> Grouper:
    if isinstance(target, Grouper):
        return target
    found: Grouper = target.state["grouper"]
    return found


@dataclass
class RoundReport:
    """What one round of one company did."""

    company: str
    at: datetime
    fresh: list[str] = field(default_factory=list)  # stores health-checked on new data
    decisions: dict[str, int] = field(default_factory=dict)  # decision kind -> count
    events: list[str] = field(default_factory=list)  # event types, in emission order
    groups: int = 0
    stores: int = 0


# --- the round --------------------------------------------------------------------------


async def run_round(target: Runtime | Grouper, company: str) -> RoundReport:
    """One grouping round of ``company`` over its dirty stores (see the module doc)."""
    grouper = grouper_of(target)
    async with grouper.lock(company):
        grouper.pending.pop(company, None)
        data = await grouper.company_data(company)
        # Prices are re-read before the write transaction, so SQLite's write lock is held
        # only while deciding and writing. A store marked again meanwhile keeps its newer
        # mark (only the marks read here are cleared) and is re-read next round.
        async with grouper.db.read() as session:
            dirty = await repository.dirty_of(session, company)
            await refresh_stores(session, data, [d["store_id"] for d in dirty])
            full = {d["store_id"] for d in dirty if d["kind"] == "full"}
            heirs = await handover.handovers(session, company, full, data.pk_of())
        async with grouper.db.transaction() as session:
            report = await _round(session, grouper, data, dirty, heirs)
    grouper.kick()
    log.info("grouping.round", company=company, fresh=len(report.fresh), **report.decisions)
    return report


async def _round(
    session: AsyncSession,
    grouper: Grouper,
    data: CompanyData,
    dirty: list[dict[str, Any]],
    heirs: list[handover.Handover],
) -> RoundReport:
    company, now = data.company, clock.now()
    fresh = {d["store_id"]: d["kind"] for d in dirty if d["kind"] in FRESH_KINDS}
    stored = await load_stored(session, company)
    state = stored.to_engine()
    founded = found_unknown(state, [*data.store_ids.values(), *(d["store_id"] for d in dirty)])
    # Stores new to the groups may match anchors nobody touched: compare all anchors then.
    scope = "all" if founded else grouper.settings.grouper_merge_scope
    result = engine.run_round(
        state,
        grouper.comparator(data, now),
        {s: k for s, k in fresh.items() if s in data.prices},
        id_factory=new_group_id,
        merge_scope=scope,
        successors=handover.successors(heirs),
    )
    result.decisions[:0] = founded
    full = [s for s, kind in fresh.items() if kind == "full"]
    result.decisions += handover.requests(heirs, result.state, full)
    outcome = await persist(session, grouper.outbox, stored, result, now)
    await repository.clear_dirty(session, company, [(d["store_id"], d["mark"]) for d in dirty])
    return _report(company, now, sorted(fresh), result, outcome)


async def load_stored(session: AsyncSession, company: str) -> StoredState:
    return StoredState.of(
        company,
        await repository.company_groups(session, company),
        await repository.company_memberships(session, company),
    )


def found_unknown(state: GroupingState, stores: Sequence[str]) -> list[engine.Decision]:
    """Every store not yet grouped starts alone in a group of one, as its anchor."""
    founded: list[engine.Decision] = []
    for store in sorted(set(stores) - set(state.group_of)):
        founded.append(engine.Founded(store, state.found(store, new_group_id).id))
    return founded


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _report(
    company: str, now: datetime, fresh: list[str], result: RoundResult, outcome: Outcome
) -> RoundReport:
    kinds = Counter(_snake(type(d).__name__) for d in result.decisions)
    return RoundReport(
        company=company,
        at=now,
        fresh=fresh,
        decisions=dict(sorted(kinds.items())),
        events=[p.event_type for p in outcome.events],
        groups=len(result.state.groups),
        stores=len(result.state.group_of),
    )


# --- persistence --------------------------------------------------------------------------


async def persist(
    session: AsyncSession, outbox: Outbox, stored: StoredState, result: RoundResult, now: datetime
) -> Outcome:
    """Write the new state, the evidence and the events of a round's decisions."""
    replay = Replay(stored, now)
    replay.run(result.decisions)
    outcome = diff_state(stored, result.state, now, replay.streak, replay.confirmed_at)
    outcome.evidence, outcome.events = replay.evidence, replay.events
    await write(session, outbox, stored.company, outcome, now)
    return outcome


async def write(
    session: AsyncSession, outbox: Outbox, company: str, outcome: Outcome, now: datetime
) -> None:
    # Order matters for the foreign key: groups exist before members point at them, and
    # emptied groups go only after their members left.
    await repository.insert_groups(session, outcome.new_groups)
    await repository.update_group_anchors(session, outcome.changed_groups)
    await repository.upsert_memberships(session, outcome.memberships)
    await repository.delete_groups(session, outcome.deleted_groups)
    await repository.close_history(session, company, outcome.history_closed, now)
    await repository.open_history(session, outcome.history_opened)
    await repository.insert_evidence(session, outcome.evidence)
    await outbox.add_many(session, outcome.events)


# --- the full regroup -----------------------------------------------------------------------

JobStatus = Literal["queued", "running", "done", "failed"]


@dataclass
class RegroupReport:
    company: str
    job_id: str | None
    stores: int
    groups: int
    events: list[str]


class CountingComparator:
    """Delegates to a comparator and counts anchor turns, to report regroup progress."""

    def __init__(self, inner: Comparator, turns: int) -> None:
        self.inner: Comparator = inner
        self.params: GroupingParams = inner.params
        self.turns, self.done = max(turns, 1), 0

    @property
    def fraction(self) -> float:
        return min(self.done / self.turns, 1.0)

    def knows(self, store: str) -> bool:
        return self.inner.knows(store)

    def current_count(self, store: str) -> int:
        return self.inner.current_count(store)

    def latest(self, store: str) -> int:
        return self.inner.latest(store)

    def compare(self, a: str, b: str) -> engine.Evidence:
        return self.inner.compare(a, b)

    def compare_many(self, a: str, others: Sequence[str]) -> list[engine.Evidence]:
        return self.inner.compare_many(a, others)

    def matches(self, a: str, others: Sequence[str]) -> list[bool]:
        # In a regroup, each anchor asks once at its merge turn.
        self.done += 1
        return self.inner.matches(a, others)


async def regroup(
    target: Runtime | Grouper, company: str, job_id: str | None = None
) -> RegroupReport:
    """Re-analyse a company from scratch: reload its prices, regroup exhaustively, store
    the result (keeping a group's id when its anchor stays anchor) and announce changes."""
    grouper = grouper_of(target)
    progress = _Progress(grouper.db, job_id)
    try:
        async with grouper.lock(company):
            await progress.update(status="running", phase="loading", started_at=clock.now())
            report = await _regroup(grouper, company, progress)
    except Exception as exc:
        await progress.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    grouper.kick()
    log.info("grouping.regroup", company=company, stores=report.stores, groups=report.groups)
    return report


async def _regroup(grouper: Grouper, company: str, progress: _Progress) -> RegroupReport:
    grouper.cache.drop(company)
    data = await grouper.company_data(company)
    now = clock.now()
    stores = sorted(data.store_ids.values())
    counter = CountingComparator(grouper.comparator(data, now), len(stores))
    await progress.update(phase="comparing", stores=len(stores))
    result = await progress.track(
        asyncio.to_thread(engine.full_regroup, stores, counter, id_factory=new_group_id), counter
    )
    await progress.update(phase="saving", progress=1.0)
    async with grouper.db.transaction() as session:
        stored = await load_stored(session, company)
        result = keep_group_ids(stored, result)
        outcome = await persist_regroup(session, grouper.outbox, stored, result, now)
        await progress.update_in(
            session, status="done", phase="done", groups=len(result.state.groups), finished_at=now
        )
    events = [p.event_type for p in outcome.events]
    return RegroupReport(company, progress.job_id, len(stores), len(result.state.groups), events)


def keep_group_ids(stored: StoredState, result: RoundResult) -> RoundResult:
    """Rename each new group to the old id of its anchor's group when that store was the
    anchor there, so a regroup that confirms the groups changes no ids."""
    old_by_anchor = {anchor: gid for gid, anchor in stored.anchors.items()}
    rename = {
        gid: old_by_anchor[g.anchor]
        for gid, g in result.state.groups.items()
        if g.anchor in old_by_anchor
    }
    groups = [
        engine.Group(rename.get(gid, gid), g.anchor, set(g.stores))
        for gid, g in result.state.groups.items()
    ]
    renamed = RoundResult(GroupingState.from_groups(groups))
    renamed.decisions = [
        _renamed(d, rename) for d in result.decisions if isinstance(d, engine.Merged)
    ]
    return renamed


def _renamed(d: engine.Merged, rename: dict[str, str]) -> engine.Merged:
    return engine.Merged(
        rename.get(d.into_group, d.into_group),
        rename.get(d.from_group, d.from_group),
        d.anchor,
        d.moved,
        d.evidence,
    )


async def persist_regroup(
    session: AsyncSession, outbox: Outbox, stored: StoredState, result: RoundResult, now: datetime
) -> Outcome:
    """Merges of a regroup are evidence (``regrouped``), not events: the events are one
    ``group.anchor_changed`` per group whose anchor or members differ from before."""
    replay = Replay(stored, now)
    outcome = diff_state(stored, result.state, now, replay.streak, replay.confirmed_at)
    for d in result.decisions:
        assert isinstance(d, engine.Merged)
        replay.record(d.evidence, d.into_group, "regrouped")
    outcome.evidence = replay.evidence
    changed = {r["id"] for r in outcome.new_groups + outcome.changed_groups}
    outcome.events = [_announce(stored, gid, result.state) for gid in sorted(changed)]
    await write(session, outbox, stored.company, outcome, now)
    return outcome


def _announce(stored: StoredState, gid: str, state: GroupingState) -> GroupAnchorChanged:
    group = state.groups[gid]
    return GroupAnchorChanged(
        company=stored.company,
        group_id=gid,
        old_anchor_store_id=stored.anchors.get(gid),
        new_anchor_store_id=group.anchor,
        member_store_ids=group.members,
    )


class _Progress:
    """A regroup job's row, updated in short transactions of its own."""

    def __init__(self, db: Database, job_id: str | None, interval: float = 0.5) -> None:
        self.db, self.job_id, self.interval = db, job_id, interval

    async def update(self, **values: Any) -> None:
        if self.job_id is not None:
            async with self.db.transaction() as session:
                await repository.update_job(session, self.job_id, **values)

    async def update_in(self, session: AsyncSession, **values: Any) -> None:
        if self.job_id is not None:
            await repository.update_job(session, self.job_id, **values)

    async def track(self, work: Any, counter: CountingComparator) -> RoundResult:
        """Await the comparing thread, writing its progress every ``interval`` seconds."""
        task: asyncio.Future[RoundResult] = asyncio.ensure_future(work)
        while not task.done():
            await asyncio.wait({task}, timeout=self.interval)
            if not task.done():
                await self.update(progress=round(counter.fraction, 4))
        return task.result()


async def start_regroup(runtime: Runtime, company: str, caller: str) -> dict[str, Any]:
    """Record a regroup job and run it in the background; returns the job row."""
    async with runtime.db.transaction() as session:
        if not await repository.company_known(session, company):
            raise NotFound(f"the catalog knows no stores of {company!r}", company=company)
        running = await repository.active_job(session, company)
        if running is not None:
            raise Conflict(f"a regroup of {company!r} is already under way", job_id=running["id"])
        row = new_job(company, caller)
        await repository.insert_job(session, row)
    runtime.spawn(_run_job(runtime, company, row["id"]), f"regroup-{company}")
    return row


def new_job(company: str, caller: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "company": company,
        "status": "queued",
        "phase": "queued",
        "progress": 0.0,
        "stores": None,
        "groups": None,
        "requested_by": caller,
        "error": None,
        "created_at": clock.now(),
        "started_at": None,
        "finished_at": None,
    }


async def _run_job(runtime: Runtime, company: str, job_id: str) -> None:
    try:
        await regroup(runtime, company, job_id)
    except Exception:
        # Already recorded on the job row; a background task has nobody else to tell.
        log.exception("grouping.regroup_failed", company=company, job_id=job_id)
