"""Scheduling policy and the operations on it: what is due, leases, and learning from events.

Every store has a place in the hand-out order, ``(priority, ready_at)``, computed here by
:func:`placement` from what the scheduler knows about it and rewritten whenever that
changes. Hand-out order (SPEC 5, "Scheduling"): a requested rescrape, then stores never
scraped, then anchors (and stores alone in their group) whose last full scrape is older than
``anchor_refresh``, then members due a spot check (``member_check``, doubling per consecutive
confirmation up to ``member_check_max``); within each tier, the longest-waiting first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from splitcart_shared.clock import clock, utc
from splitcart_shared.errors import Conflict, NotFound
from splitcart_shared.events import (
    COMPANIES,
    GroupAnchorChanged,
    GroupMemberConfirmed,
    GroupMerged,
    ScrapeRejected,
    StoreEjected,
    StoreIngested,
    StoresDiscovered,
)
from splitcart_shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_scheduler import repository as repo
from splitcart_scheduler.models import REASONS, SPOT_TIERS, Tier
from splitcart_scheduler.repository import LeaseStore
from splitcart_scheduler.settings import SchedulerSettings

log = get_logger(__name__)


class StaleLease(Conflict):
    code = "stale_lease"


@dataclass(frozen=True)
class Policy:
    anchor_refresh: timedelta
    member_check: timedelta
    member_check_max: timedelta
    lease_ttl: timedelta
    lease_max: timedelta
    backoff_base: timedelta
    backoff_cap: timedelta
    probe_new_stores: bool = True
    probe_grace: timedelta = timedelta(hours=2)
    probe_trial: int = 10
    probe_min_member_share: float = 0.3
    alone_refresh: timedelta | None = None  # None: as anchor_refresh
    rollover_weekday: int | None = None

    @classmethod
    def from_settings(cls, settings: SchedulerSettings) -> Policy:
        return cls(
            anchor_refresh=timedelta(hours=settings.anchor_refresh_hours),
            member_check=timedelta(days=settings.member_check_days),
            member_check_max=timedelta(days=settings.member_check_max_days),
            lease_ttl=timedelta(seconds=settings.lease_ttl_seconds),
            lease_max=timedelta(hours=settings.lease_max_hours),
            backoff_base=timedelta(seconds=settings.failure_backoff_base_seconds),
            backoff_cap=timedelta(seconds=settings.failure_backoff_cap_seconds),
            probe_new_stores=settings.probe_new_stores,
            probe_grace=timedelta(hours=settings.probe_grace_hours),
            probe_trial=settings.probe_trial_stores,
            probe_min_member_share=settings.probe_min_member_share,
            alone_refresh=timedelta(hours=settings.alone_refresh_hours),
            rollover_weekday=settings.price_rollover_weekday,
        )

    def refresh_due(self, role: str, last_full: datetime) -> datetime:
        """When an anchor (``role`` anchor) or a store alone is due its next full scrape:
        after its refresh interval, or at the first weekly rollover after ``last_full``,
        whichever comes first."""
        interval = self.anchor_refresh
        if role != "anchor" and self.alone_refresh is not None:
            interval = self.alone_refresh
        due = last_full + interval
        if self.rollover_weekday is not None:
            due = min(due, next_rollover(last_full, self.rollover_weekday))
        return due

    def member_interval(self, confirmations: int) -> timedelta:
        # The exponent is bounded so a long-healthy member cannot overflow the timedelta.
        doubled = self.member_check * (1 << min(max(confirmations, 0), 16))
        return max(self.member_check, min(doubled, self.member_check_max))

    def backoff(self, attempts: int, retryable: bool = True) -> timedelta:
        if not retryable:
            return self.backoff_cap
        return min(self.backoff_cap, self.backoff_base * (1 << min(max(attempts - 1, 0), 32)))

    def lease_expiry(self, granted_at: datetime, now: datetime) -> datetime:
        return min(now + self.lease_ttl, granted_at + self.lease_max)


# --- placement ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFacts:
    """What the hand-out order of one store depends on."""

    id: int
    scrapable: bool
    company_ready: bool
    company_held: bool
    closed_at: datetime | None
    role: str
    role_changed_at: datetime | None
    discovered_at: datetime
    last_scraped_at: datetime | None
    last_spot_at: datetime | None
    last_completed_at: datetime | None
    last_completed_kind: str | None
    last_confirmed_at: datetime | None
    consecutive_confirmations: int
    rescrape_requested_at: datetime | None
    lease_token: str | None
    lease_expires_at: datetime | None
    retry_after: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StoreFacts:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        for name, value in values.items():
            if isinstance(value, datetime):
                values[name] = utc(value)
        return cls(**values)

    @property
    def last_full_at(self) -> datetime | None:
        completed = self.last_completed_at if self.last_completed_kind == "full" else None
        return _latest(self.last_scraped_at, completed)


@dataclass(frozen=True)
class Plan:
    tier: Tier
    due_at: datetime

    @property
    def reason(self) -> str:
        return str(REASONS[self.tier])

    @property
    def kind(self) -> str:
        return "spot" if int(self.tier) in SPOT_TIERS else "full"


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def plan(facts: StoreFacts, policy: Policy) -> Plan | None:
    """Which tier the store is in and since when it is due; None: not handed out (closed,
    unscrapable, or new while its company's probe trial is out)."""
    if not facts.scrapable or facts.closed_at is not None:
        return None
    requested = facts.rescrape_requested_at
    if requested is not None and not _satisfied(facts, requested):
        return Plan(Tier.RESCRAPE, requested)
    touched = _latest(facts.last_scraped_at, facts.last_spot_at, facts.last_completed_at)
    if touched is None:
        # Once the company has a fully scraped store, a new store is first probed with a spot
        # check: if it prices like an existing group it joins it and never costs a full scrape.
        probe = policy.probe_new_stores and facts.company_ready
        if probe and facts.company_held:
            return None  # the probe trial is out; it decides how this store starts
        return Plan(Tier.PROBE if probe else Tier.NEVER_SCRAPED, facts.discovered_at)
    if facts.role == "member":
        # From the member's own last data or confirmation, not from group events: an
        # anchor changing hands must not push every member's check back.
        basis = _latest(touched, facts.last_confirmed_at) or touched
        interval = policy.member_interval(facts.consecutive_confirmations)
        return Plan(Tier.MEMBER_CHECK, basis + interval)
    full = facts.last_full_at
    if full is None:
        # Alone with only probe data: a full scrape, unless grouping places the store in a
        # group meanwhile (it then becomes a member and is checked, not refreshed).
        return Plan(Tier.ANCHOR_REFRESH, touched + policy.probe_grace)
    return Plan(Tier.ANCHOR_REFRESH, policy.refresh_due(facts.role, full))


def next_rollover(after: datetime, weekday: int) -> datetime:
    """The first midnight (on the clock's timezone) starting ``weekday`` strictly after
    ``after``."""
    midnight = after.replace(hour=0, minute=0, second=0, microsecond=0)
    days = (weekday - midnight.weekday()) % 7 or 7
    return midnight + timedelta(days=days)


def _satisfied(facts: StoreFacts, requested: datetime) -> bool:
    """A full scrape started at or after the moment of the request (ingest will confirm
    and clear it): its data is as new as the request asks. Asking again for the same
    moment would only be refused as stale, again and again while the clock stands (a
    simulated clock moves in steps)."""
    full = facts.last_full_at
    return full is not None and full >= requested


def placement(facts: StoreFacts, policy: Policy) -> tuple[int | None, datetime | None]:
    """``(priority, ready_at)``: backoff delays a store; a lease holds it until it expires."""
    planned = plan(facts, policy)
    if planned is None:
        return None, None
    ready = _latest(planned.due_at, facts.retry_after) or planned.due_at
    if facts.lease_token is not None and facts.lease_expires_at is not None:
        ready = facts.lease_expires_at
    return int(planned.tier), ready


async def replan(session: AsyncSession, policy: Policy, ids: Sequence[int]) -> None:
    rows = await repo.facts(session, ids)
    placements = []
    for row in rows:
        priority, ready = placement(StoreFacts.from_row(row), policy)
        placements.append((int(row["id"]), priority, ready))
    await repo.set_placements(session, placements)


# --- leases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    token: str
    expires_at: datetime
    kind: str
    reason: str
    spot_rotation: int
    company: str
    store_id: str
    retailer_store_id: str | None
    name: str
    state: str | None


_CLAIM_ATTEMPTS = 4


async def grant_lease(
    leases: LeaseStore, policy: Policy, worker_id: str, companies: Sequence[str] | None
) -> Lease | None:
    """Lease the most deserving store to ``worker_id``; None when nothing is due."""
    now = clock.now()
    for _ in range(_CLAIM_ATTEMPTS):
        claim = await leases.claim(
            token=str(uuid.uuid4()),
            holder=worker_id,
            now=now,
            expires=policy.lease_expiry(now, now),
            companies=companies,
        )
        if claim.lease is not None:
            lease = _lease_of(claim.lease)
            log.info(
                "lease.granted",
                store_id=lease.store_id,
                company=lease.company,
                kind=lease.kind,
                reason=lease.reason,
                worker_id=worker_id,
            )
            return lease
        if not claim.picked:
            return None
        # The company's free slots went first (to a concurrent claim or to callers ahead in
        # the same batch); the next attempt sees that.
    return None


def _lease_of(row: Mapping[str, Any]) -> Lease:
    kind = str(row["lease_kind"])
    # The counter was bumped by this claim; the scraper wants this check's ordinal from 0.
    rotation = int(row["spot_rotation"]) - (1 if kind == "spot" else 0)
    return Lease(
        token=str(row["lease_token"]),
        expires_at=utc(row["lease_expires_at"]),
        kind=kind,
        reason=str(row["lease_reason"]),
        spot_rotation=rotation,
        company=str(row["company"]),
        store_id=str(row["store_id"]),
        retailer_store_id=row["retailer_store_id"],
        name=str(row["name"]),
        state=row["state"],
    )


async def _stale(leases: LeaseStore, token: str) -> StaleLease:
    if await leases.exists(token):
        return StaleLease("the lease has expired", token=token)
    return StaleLease("no live lease has this token", token=token)


async def heartbeat(leases: LeaseStore, policy: Policy, token: str) -> datetime:
    """Extend a live lease by the TTL, never past its maximum lifetime."""
    expires = await leases.extend(token, clock.now(), policy.lease_ttl, policy.lease_max)
    if expires is None:
        raise await _stale(leases, token)
    return utc(expires)


@dataclass(frozen=True)
class Released:
    token: str
    company: str
    store_id: str
    outcome: str
    retry_after: datetime | None


async def complete(leases: LeaseStore, policy: Policy, token: str) -> Released:
    def place(row: Mapping[str, Any]) -> tuple[int | None, datetime | None, None]:
        return (*placement(StoreFacts.from_row(row), policy), None)

    row = await leases.release(token, clock.now(), None, place)
    if row is None:
        raise await _stale(leases, token)
    log.info("lease.completed", store_id=row["store_id"], company=row["company"])
    return Released(token, row["company"], row["store_id"], "completed", None)


async def fail(
    leases: LeaseStore, policy: Policy, token: str, error: str, retryable: bool
) -> Released:
    now = clock.now()

    def place(row: Mapping[str, Any]) -> tuple[int | None, datetime | None, datetime]:
        retry_after = now + policy.backoff(int(row["attempts"]), retryable)
        facts = StoreFacts.from_row({**row, "retry_after": retry_after})
        return (*placement(facts, policy), retry_after)

    row = await leases.release(token, now, error, place)
    if row is None:
        raise await _stale(leases, token)
    retry_after = now + policy.backoff(int(row["attempts"]), retryable)
    log.warning(
        "lease.failed",
        store_id=row["store_id"],
        company=row["company"],
        error=error,
        retryable=retryable,
        attempts=row["attempts"],
    )
    return Released(token, row["company"], row["store_id"], "failed", retry_after)


async def reclaim_expired(session: AsyncSession, policy: Policy) -> int:
    """End every expired lease and give its slot back to the company."""
    rows = await repo.release_expired(session, clock.now())
    if not rows:
        return 0
    ids = [int(r["id"]) for r in rows]
    await repo.free_slots(session, ids)
    await replan(session, policy, ids)
    for r in rows:
        log.info("lease.reclaimed", store_id=r["store_id"], company=r["company"])
    return len(rows)


async def sync_slots(session: AsyncSession, settings: SchedulerSettings) -> None:
    companies = sorted(set(COMPANIES) | set(settings.company_lease_cap))
    await repo.sync_slots(session, {c: settings.cap_for(c) for c in companies})


async def replan_everything(session: AsyncSession, policy: Policy) -> None:
    """Re-place every store (intervals may have changed since the last start)."""
    await replan(session, policy, await repo.all_ids(session))


# --- manual rescrape and reads --------------------------------------------------------------


async def request_rescrape(
    session: AsyncSession,
    policy: Policy,
    company: str,
    store_id: str,
    reason: str,
    at: datetime,
) -> int | None:
    """Ask for a full scrape; an earlier request still pending keeps its place."""
    store_pk = await repo.update_store(
        session,
        company,
        store_id,
        {"rescrape_requested_at": at, "rescrape_reason": reason},
        repo.no_rescrape_pending(),
    )
    if store_pk is None:
        known = await repo.ids_of(session, company, [store_id])
        found: int | None = known[0] if known else None
        return found
    await replan(session, policy, [store_pk])
    log.info("store.rescrape_requested", store_id=store_id, company=company, reason=reason)
    return int(store_pk)


async def store_detail(
    session: AsyncSession, policy: Policy, company: str, store_id: str
) -> tuple[Mapping[Any, Any], Plan | None]:
    row = await repo.store(session, company, store_id)
    if row is None:
        raise NotFound("unknown store", company=company, store_id=store_id)
    return row, plan(StoreFacts.from_row(row), policy)


@dataclass(frozen=True)
class QueueEntry:
    company: str
    store_id: str
    name: str
    kind: str
    reason: str
    ready_since: datetime
    attempts: int
    reclaim: bool


async def upcoming(session: AsyncSession, company: str | None, limit: int) -> list[QueueEntry]:
    rows = await repo.queue(session, clock.now(), company, limit)
    return [
        QueueEntry(
            company=r["company"],
            store_id=r["store_id"],
            name=r["name"],
            kind="spot" if r["priority"] in SPOT_TIERS else "full",
            reason=REASONS[int(r["priority"])],
            ready_since=utc(r["ready_at"]),
            attempts=int(r["attempts"]),
            reclaim=r["lease_token"] is not None,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Stats:
    due: list[tuple[str, str, int]]
    leases: list[tuple[str, int, int]]


async def stats(session: AsyncSession) -> Stats:
    now = clock.now()
    due = [(str(r[0]), REASONS[int(r[1])], int(r[2])) for r in await repo.due_counts(session, now)]
    leases = [(str(r[0]), int(r[2]), int(r[1])) for r in await repo.lease_counts(session, now)]
    return Stats(sorted(due), leases)


# --- learning from events -------------------------------------------------------------------


async def apply_discovery(session: AsyncSession, policy: Policy, event: StoresDiscovered) -> None:
    swept_at = utc(event.swept_at)
    by_id = {record.store_id: record for record in event.stores}
    rows = [
        {
            "company": event.company,
            "store_id": r.store_id,
            "retailer_store_id": r.retailer_store_id,
            "name": r.name[:200],
            "state": r.state,
            "scrapable": r.scrapable,
            "discovered_at": swept_at,
            "last_seen_at": swept_at,
        }
        for r in by_id.values()
    ]
    await repo.upsert_discovered(session, rows)
    await _refresh_probing(session, policy, event.company)
    if event.complete:
        await repo.close_unlisted(session, event.company, swept_at)
    await replan(session, policy, await repo.company_ids(session, event.company))
    log.info("stores.learned", company=event.company, stores=len(rows), complete=event.complete)


async def apply_ingested(session: AsyncSession, policy: Policy, event: StoreIngested) -> None:
    values = repo.scraped_values(event.kind, utc(event.scraped_at))
    store_pk = await repo.update_store(session, event.company, event.store_id, values)
    await _replan_known(session, policy, event.company, event.store_id, store_pk)
    if store_pk is not None:  # a full scrape decides a store; a probe may fill the trial
        await _refresh_probing(session, policy, event.company)


async def apply_rejected(session: AsyncSession, policy: Policy, event: ScrapeRejected) -> None:
    """A refused scrape is a failed attempt: back off, and the completion no longer counts."""
    ref = str(event.source_event_id)
    values = repo.rejection_values(ref, f"{event.reason}: {event.detail}"[:2000])
    not_counted = repo.failure_not_counted(ref)
    store_pk = await repo.update_store(session, event.company, event.store_id, values, not_counted)
    if store_pk is None:
        return
    (row,) = await repo.facts(session, [store_pk])
    retry_after = clock.now() + policy.backoff(int(row["attempts"]))
    facts = StoreFacts.from_row({**row, "retry_after": retry_after})
    priority, ready = placement(facts, policy)
    await repo.set_placement(session, store_pk, priority, ready, retry_after, with_retry=True)
    log.warning(
        "scrape.rejected",
        store_id=event.store_id,
        company=event.company,
        reason=event.reason,
        attempts=row["attempts"],
    )


async def apply_merged(
    session: AsyncSession, policy: Policy, event: GroupMerged, at: datetime
) -> None:
    guard = repo.group_fact_is_newer(at)
    moved = [s for s in event.moved_store_ids if s != event.anchor_store_id]
    ids = await repo.update_stores(
        session,
        event.company,
        moved,
        {
            "group_id": event.into_group_id,
            "role": "member",
            "role_changed_at": at,
            "consecutive_confirmations": repo.streak_kept_in(event.into_group_id),
        },
        guard,
    )
    anchor = await repo.update_store(
        session,
        event.company,
        event.anchor_store_id,
        {"group_id": event.into_group_id, "role": "anchor", "role_changed_at": at},
        guard,
    )
    await replan(session, policy, ids + ([anchor] if anchor is not None else []))
    await _refresh_probing(session, policy, event.company)


async def apply_ejected(
    session: AsyncSession, policy: Policy, event: StoreEjected, at: datetime
) -> None:
    values = {
        "group_id": event.new_group_id,
        "role": "alone",
        "role_changed_at": at,
        "consecutive_confirmations": 0,
        "last_confirmed_at": None,
    }
    store_pk = await repo.update_store(
        session, event.company, event.store_id, values, repo.group_fact_is_newer(at)
    )
    await repo.demote_lonely_anchors(session, event.company, event.old_group_id)
    await _replan_known(session, policy, event.company, event.store_id, store_pk)


async def apply_anchor_changed(
    session: AsyncSession, policy: Policy, event: GroupAnchorChanged, at: datetime
) -> None:
    guard = repo.group_fact_is_newer(at)
    members = [s for s in event.member_store_ids if s != event.new_anchor_store_id]
    if event.old_anchor_store_id and event.old_anchor_store_id != event.new_anchor_store_id:
        # The old anchor stays in the group as a member unless it was ejected (a newer fact).
        members.append(event.old_anchor_store_id)
    ids = await repo.update_stores(
        session,
        event.company,
        sorted(set(members)),
        {
            "group_id": event.group_id,
            "role": "member",
            "role_changed_at": at,
            "consecutive_confirmations": repo.streak_kept_in(event.group_id),
        },
        guard,
    )
    anchor = await repo.update_store(
        session,
        event.company,
        event.new_anchor_store_id,
        {"group_id": event.group_id, "role": "anchor", "role_changed_at": at},
        guard,
    )
    await replan(session, policy, ids + ([anchor] if anchor is not None else []))


async def apply_member_confirmed(
    session: AsyncSession, policy: Policy, event: GroupMemberConfirmed, at: datetime
) -> None:
    values = {"last_confirmed_at": at, "consecutive_confirmations": event.consecutive_confirmations}
    newer = repo.confirmation_is_newer(at)
    store_pk = await repo.update_store(session, event.company, event.store_id, values, newer)
    await _replan_known(session, policy, event.company, event.store_id, store_pk)


async def _refresh_probing(session: AsyncSession, policy: Policy, company: str) -> None:
    changed = await repo.refresh_probing(
        session, company, trial=policy.probe_trial, min_member_share=policy.probe_min_member_share
    )
    await replan(session, policy, changed)


async def _replan_known(
    session: AsyncSession, policy: Policy, company: str, store_id: str, store_pk: int | None
) -> None:
    if store_pk is None:
        log.info("store.event_skipped", store_id=store_id, company=company)
        return
    await replan(session, policy, [store_pk])
