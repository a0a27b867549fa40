"""Drives the whole pipeline against the sandbox over simulated days and measures it.

The sandbox and the services run as processes (embedded: one ``splitcart up``; distributed:
one ``splitcart serve`` per service on Postgres + RabbitMQ), all following the sandbox's
clock. Each simulated step the driver waits until the scheduler has no due work and no live
lease, then moves the clock. Once a day (before midnight) it compares what the system
says with the sandbox's ground truth. Costs come from the sandbox's own request counters.

Brute force, the baseline, is every open store fully scraped every day. Its cost per store
is that store's measured full-scrape request count (the scraper reports each full scrape's
requests); a store this run never fully scraped is costed at the mean of its chain.
Store-locator sweeps are the same for both policies and are reported apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from splitcart_scraper.pipeline.processes import (
    SERVICES,
    Process,
    ProcessGroup,
    free_port,
    wait_ready,
)

CHAINS = ("coles", "woolworths", "aldi", "iga")
LOCATOR_ENDPOINTS = {"service-points", "storelocator", "stores", "graphql:GetStores"}
IGNORED_ENDPOINTS = {"graphql"}  # counted again under graphql:<operation>
# Tries of a monitoring read (each up to the client's timeout), with 2, 4, 8, 16 s between.
READ_ATTEMPTS = 5


@dataclass
class SimulationConfig:
    days: int = 14
    seed: int = 7
    store_scale: float = 1.0
    product_scale: float = 0.02
    step_hours: int = 6
    distributed: bool = False
    out_dir: Path = Path("var/simulation")
    accuracy_sample: float = 0.25
    # A step fails once its work has not moved for this long (see ``Simulation.settle``).
    max_step_seconds: float = 900.0
    scraper_concurrency: int = 8
    # How often a store alone in its group is refreshed (the scheduler's
    # ``alone_refresh_hours``; 24 is the SPEC's anchor refresh).
    alone_refresh_hours: float = 24.0
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    postgres_admin_dsn: str = "postgresql://postgres@127.0.0.1:5432/test"
    extra_env: dict[str, str] = field(default_factory=dict)


class SimulationStalled(RuntimeError):
    """The services stopped making progress within a step."""


@dataclass
class DayRecord:
    day: int
    date: str
    requests: dict[str, int]
    brute_force_requests: dict[str, int]
    full_scrapes: dict[str, int]
    spot_scrapes: dict[str, int]
    price_accuracy: dict[str, float | None]
    price_pairs: dict[str, tuple[int, int]]
    coverage: dict[str, float | None]
    groups: dict[str, int]
    false_merges: int
    missed_merges: int
    rogues_pending: int
    false_merges_without_pending_rogues: int
    wall_seconds: float
    # (correct, compared) per chain and role: ``member`` (inferred from its anchor) or
    # ``anchor`` (any other store: an anchor, a store alone, or one the grouper does not
    # know yet, whose pairs all count as wrong).
    price_pairs_by_role: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)


@dataclass
class Evaluation:
    """What one day's comparison with the truth found."""

    accuracy: dict[str, float | None]
    pairs: dict[str, tuple[int, int]]
    coverage: dict[str, float | None]
    groups: dict[str, int]
    false_merges: int
    missed_merges: int
    rogues_pending: int
    false_merges_without_pending_rogues: int
    by_role: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)


def min_shared_for(product_scale: float) -> int:
    """The SPEC's ``min_shared`` (100) scaled to the catalogue sizes of a simulated world."""
    return max(10, min(100, round(2000 * product_scale)))


class Stack:
    """The sandbox and the services, started as processes."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.group = ProcessGroup()
        self.sandbox_url = ""
        self.urls: dict[str, str] = {}
        self._pg_name: str | None = None

    def start(self) -> None:
        out = self.config.out_dir
        out.mkdir(parents=True, exist_ok=True)
        sandbox_port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        sandbox = self.group.start(
            "sandbox",
            [
                "sandbox",
                "serve",
                "--seed",
                str(self.config.seed),
                "--store-scale",
                str(self.config.store_scale),
                "--product-scale",
                str(self.config.product_scale),
                "--port",
                str(sandbox_port),
            ],
            {},
            out / "logs",
            self.sandbox_url,
        )
        wait_ready(sandbox, "/admin/clock", timeout=600)
        env = self._service_env()
        self._migrate(env)
        if self.config.distributed:
            self._start_distributed(env)
        else:
            self._start_embedded(env)

    def _service_env(self) -> dict[str, str]:
        cfg, out, sb = self.config, self.config.out_dir.resolve(), self.sandbox_url
        env = {
            "SPLITCART_CLOCK_URL": f"{sb}/admin/clock",
            "SPLITCART_COLES_BASE_URL": f"{sb}/coles",
            "SPLITCART_WOOLWORTHS_BASE_URL": f"{sb}/woolworths",
            "SPLITCART_ALDI_BASE_URL": f"{sb}/aldi",
            "SPLITCART_IGA_BASE_URL": f"{sb}/iga",
            "SPLITCART_IGA_LOCATOR_URL": f"{sb}/iga-locator",
            # The imported browser sessions the sandbox's bot walls expect.
            "SPLITCART_WOOLWORTHS_SESSION_COOKIES": json.dumps({"w-auth": "sandbox-login"}),
            "SPLITCART_COLES_COOKIE_JAR": json.dumps(
                {"visid_incap_2800108": "sandbox", "incap_ses_1234_2800108": "sandbox"}
            ),
            # Politeness is for real retailers; the local sandbox is ours.
            "SPLITCART_COLES_RPS": "0",
            "SPLITCART_WOOLWORTHS_RPS": "0",
            "SPLITCART_ALDI_RPS": "0",
            "SPLITCART_IGA_RPS": "0",
            "SPLITCART_RETRY__BACKOFF_BASE": "0.05",
            "SPLITCART_RETRY__BACKOFF_CAP": "1",
            "SPLITCART_SCRAPER_CONCURRENCY": str(cfg.scraper_concurrency),
            "SPLITCART_SCRAPER_IDLE_SECONDS": "0.5",
            "SPLITCART_ARCHIVE_ROOT": str(out / "archives"),
            "SPLITCART_LOG_LEVEL": "WARNING",
            # True Overlap needs enough shared products to decide; small simulated catalogues
            # (Aldi at product scale 0.02 lists ~50 products) lower the SPEC's 100 in step.
            "SPLITCART_MIN_SHARED": str(min_shared_for(cfg.product_scale)),
            # ... and a spot check pages on until it can decide one.
            "SPLITCART_SCRAPER_SPOT_MIN_PRODUCTS": str(
                math.ceil(1.5 * min_shared_for(cfg.product_scale))
            ),
            "SPLITCART_VAR_DIR": str(out),
            "SPLITCART_ALONE_REFRESH_HOURS": str(cfg.alone_refresh_hours),
        }
        if cfg.distributed:
            env["SPLITCART_DATABASE_URL"] = self._create_pg_database()
            prefix = f"sim{int(time.time())}"
            env["SPLITCART_AMQP_URL"] = cfg.amqp_url
            env["SPLITCART_EXCHANGE"] = f"{prefix}.events"
            env["SPLITCART_QUEUE_PREFIX"] = prefix
            token = hashlib.sha256(prefix.encode()).hexdigest()
            env["SPLITCART_API_TOKENS"] = json.dumps({"internal": {"token": token}})
            env["SPLITCART_SERVICE_TOKEN"] = token
        else:
            (out / "db").mkdir(parents=True, exist_ok=True)
            env["SPLITCART_DATABASE_URL"] = f"sqlite+aiosqlite:///{out / 'db' / 'splitcart.db'}"
            env["SPLITCART_AUTH_DISABLED"] = "true"
        env.update(cfg.extra_env)
        return env

    def _create_pg_database(self) -> str:
        from splitcart_shared import testing

        self._pg_name = f"splitcart_sim_{int(time.time())}"
        url: str = asyncio.run(testing.create_pg_database(self._pg_name))
        return url

    def _migrate(self, env: dict[str, str]) -> None:
        migrate = self.group.start("migrate", ["migrate"], env, self.config.out_dir / "logs", "")
        if migrate.popen.wait(300) != 0:
            raise RuntimeError(f"migrations failed:\n{migrate.tail()}")

    def _start_embedded(self, env: dict[str, str]) -> None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**env, **{f"SPLITCART_{s.upper()}_URL": f"{base}/{s}" for s in SERVICES}}
        up = self.group.start(
            "splitcart-up", ["up", "--port", str(port)], env, self.config.out_dir / "logs", base
        )
        wait_ready(up, "/healthz")
        self.urls = {s: f"{base}/{s}" for s in SERVICES}

    def _start_distributed(self, env: dict[str, str]) -> None:
        ports = {s: free_port() for s in SERVICES}
        urls = {s: f"http://127.0.0.1:{ports[s]}" for s in SERVICES}
        env = {**env, **{f"SPLITCART_{s.upper()}_URL": urls[s] for s in SERVICES}}
        started: list[Process] = []
        for service in SERVICES:  # the scraper last: its sweeps need consumers bound
            process = self.group.start(
                service,
                ["serve", service, "--port", str(ports[service])],
                env,
                self.config.out_dir / "logs",
                urls[service],
            )
            wait_ready(process, "/readyz")
            started.append(process)
        self.urls = urls
        self.token = env["SPLITCART_SERVICE_TOKEN"]

    def check_alive(self) -> None:
        for process in self.group.processes:
            if process.name != "migrate" and not process.alive():
                raise RuntimeError(f"{process.name} died:\n{process.tail()}")

    def stop(self) -> None:
        self.group.stop()
        if self._pg_name:
            from splitcart_shared import testing

            asyncio.run(testing.drop_pg_database(self._pg_name))


class Simulation:
    """The day loop: settle, evaluate, advance."""

    def __init__(
        self,
        config: SimulationConfig,
        stack: Stack,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.stack = stack
        self.on_update = on_update or (lambda _snapshot: None)
        headers = {}
        if config.distributed:
            headers["Authorization"] = f"Bearer {getattr(stack, 'token', '')}"
        self.http = httpx.AsyncClient(timeout=60, headers=headers)
        self.days: list[DayRecord] = []
        self.rogue_days: dict[str, int] = {}
        self.rogue_ejected: dict[str, int] = {}
        self._last_counts: dict[str, int] = {}
        self._last_kinds: dict[str, dict[str, int]] = {}
        self.snapshot: dict[str, Any] = {}

    async def read(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET ``url``, again after a timeout or a dropped connection: a process busy with a
        long round can leave a read unanswered for a while, and one lost read must not end
        a run of hours (a dead process is caught by ``Stack.check_alive``). The last
        failure is raised after ``READ_ATTEMPTS``."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return await self.http.get(url, params=params or None)
            except httpx.TransportError:
                if attempt == READ_ATTEMPTS:
                    raise
                await asyncio.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")

    # --- sandbox ---------------------------------------------------------------------

    async def sandbox(self, path: str, **params: Any) -> Any:
        response = await self.read(self.stack.sandbox_url + path, params)
        response.raise_for_status()
        return response.json()

    async def advance(self, hours: int) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.stack.sandbox_url}/admin/clock", json={"advance_hours": hours}
        )
        response.raise_for_status()
        await asyncio.sleep(0.3)  # every process's clock follows within its refresh interval
        return dict(response.json())

    async def requests_by_chain(self) -> tuple[dict[str, int], dict[str, int]]:
        """(catalogue requests, store-locator requests) per chain, from the sandbox."""
        counters = await self.sandbox("/admin/counters")
        catalogue: dict[str, int] = defaultdict(int)
        locator: dict[str, int] = defaultdict(int)
        for chain, endpoints in counters["requests"].items():
            for endpoint, count in endpoints.items():
                if endpoint in IGNORED_ENDPOINTS:
                    continue
                target = locator if endpoint in LOCATOR_ENDPOINTS else catalogue
                target[chain] += int(count)
        return dict(catalogue), dict(locator)

    # --- services --------------------------------------------------------------------

    async def service(self, name: str, path: str, **params: Any) -> Any:
        response = await self.read(self.stack.urls[name] + path, params)
        response.raise_for_status()
        return response.json()

    async def scheduler_busy(self) -> tuple[int, int]:
        stats = await self.service("scheduler", "/v1/stats")
        due = sum(int(d.get("stores", 0)) for d in stats.get("due", []))
        live = sum(int(x.get("live", x.get("count", 0))) for x in stats.get("leases", []))
        return due, live

    async def backlog(self) -> int:
        """Events sent and not yet handled, over every service: rows waiting in outboxes,
        and events waiting in (or taken from and not yet settled off) their queues. A
        completed lease says nothing of its scrape's ingest and grouping: those follow
        through events, so a step waits for them here."""
        total = 0
        for name in self.stack.urls:
            body = await self.service(name, "/backlogz")
            total += int(body.get("outbox", 0)) + int(body.get("inbound", 0))
        return total

    async def grouping_behind(self) -> int:
        """Stores ingested or discovered that the grouper has not had a round for yet."""
        stats = await self.service("grouper", "/v1/stats")
        return sum(int(c.get("dirty", 0)) for c in stats.get("companies", {}).values())

    async def settle(self) -> None:
        """Wait until there is no due work, no live lease, no event unhandled and no store
        waiting for a grouping round, twice in a row. Time stands still within a step, so
        the clock moves on only once the services have caught up, as they would long before
        hours pass: a scrape's grouping must not be decided at the next step's time.

        However long a step takes on a slow machine, the clock never moves on with work
        left (that would change what the run decides, not only how fast). A step whose
        work stops moving for ``max_step_seconds`` fails the run instead."""
        quiet, seen, moved = 0, None, time.monotonic()
        while quiet < 2:
            self.stack.check_alive()
            due, live = await self.scheduler_busy()
            events = await self.backlog()
            behind = await self.grouping_behind()
            self.snapshot.update({"due": due, "leases": live})
            await self._publish_snapshot()
            idle = due == 0 and live == 0 and events == 0 and behind == 0
            quiet = quiet + 1 if idle else 0
            state = (due, live, events, behind, sum(self.snapshot.get("requests", {}).values()))
            if state != seen:
                seen, moved = state, time.monotonic()
            elif time.monotonic() - moved > self.config.max_step_seconds:
                raise SimulationStalled(
                    f"no progress for {self.config.max_step_seconds:.0f} s: {due} stores due, "
                    f"{live} leases live, {events} events unhandled, "
                    f"{behind} stores waiting for grouping"
                )
            await asyncio.sleep(1.0 if quiet else 0.5)

    async def _publish_snapshot(self) -> None:
        catalogue, locator = await self.requests_by_chain()
        self.snapshot["requests"] = catalogue
        self.snapshot["locator_requests"] = locator
        manifest = await self.service("archiver", "/v1/archives")
        self.snapshot["archives"] = len(manifest.get("archives", []))
        stats = await self.scrape_stats()
        self.snapshot["errors"] = stats.get("failed", 0)
        self.on_update(self.snapshot)

    # --- evaluation ------------------------------------------------------------------

    async def truth_stores(self, day: int) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for chain in CHAINS:
            body = await self.sandbox("/admin/stores", chain=chain, day=day)
            out[chain] = [s for s in body["stores"] if s["open"] and s.get("scrapable", True)]
        return out

    def sampled(self, stores: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A deterministic sample (by store id hash) of ``accuracy_sample`` of the stores."""
        cut = int(self.config.accuracy_sample * 2**32)
        picked = [
            s for s in stores if int(hashlib.sha1(s["store_id"].encode()).hexdigest()[:8], 16) < cut
        ]
        return picked or stores[:1]

    async def effective_prices(
        self, chain: str, store_id: str
    ) -> tuple[dict[str, int | None], str] | None:
        """The store's effective prices by SKU, and its role (``anchor``: priced from its
        own scrapes, as an anchor or alone; ``member``: inferred from its anchor)."""
        from urllib.parse import quote

        response = await self.read(
            f"{self.stack.urls['grouper']}/v1/stores/{chain}/{quote(store_id, safe='')}/prices"
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body = response.json()
        rows = body["prices"]
        role = "anchor" if body.get("anchor_store_id") in (None, store_id) else "member"
        return {str(r["sku"]): r.get("price_cents") for r in rows}, role

    async def store_accuracy(
        self, chain: str, store: dict[str, Any], day: int
    ) -> tuple[int, int, bool, str]:
        """(correct, compared, covered, role) for one store on ``day``."""
        truth = await self.sandbox(
            f"/admin/truth/{chain}/{store['store_id']}", day=day, format="columns"
        )
        found = await self.effective_prices(chain, store["store_id"])
        ours, role = found if found is not None else ({}, "anchor")  # nothing inferred
        correct = compared = 0
        for sku, price, listed, available in zip(
            truth["sku"], truth["price_cents"], truth["listed"], truth["available"], strict=True
        ):
            if not listed or not available:
                continue
            compared += 1
            correct += int(ours.get(str(sku)) == price)
        return correct, compared, bool(ours), role

    async def evaluate(self, day: int) -> Evaluation:
        stores = await self.truth_stores(day)
        accuracy: dict[str, float | None] = {}
        pairs: dict[str, tuple[int, int]] = {}
        coverage: dict[str, float | None] = {}
        by_role: dict[str, dict[str, tuple[int, int]]] = {}
        for chain, chain_stores in stores.items():
            sample = self.sampled(chain_stores)
            results = await _gather_limited(
                [self.store_accuracy(chain, s, day) for s in sample], limit=16
            )
            correct = sum(r[0] for r in results)
            compared = sum(r[1] for r in results)
            accuracy[chain] = correct / compared if compared else None
            pairs[chain] = (correct, compared)
            for role in ("anchor", "member"):
                mine = [r for r in results if r[3] == role]
                by_role.setdefault(chain, {})[role] = (
                    sum(r[0] for r in mine),
                    sum(r[1] for r in mine),
                )
            coverage[chain] = sum(r[2] for r in results) / len(results) if results else None
        groups, false_merges, missed, pending, settled = await self.group_quality(stores, day)
        return Evaluation(
            accuracy, pairs, coverage, groups, false_merges, missed, pending, settled, by_role
        )

    async def group_quality(
        self, stores: dict[str, list[dict[str, Any]]], day: int
    ) -> tuple[dict[str, int], int, int, int, int]:
        """Groups per chain; pairs wrongly together (false merges) and wrongly apart.

        A rogue that switched zone is wrongly together with its old group until its next
        check ejects it: those pairs are counted, and also reported apart (pending)."""
        counts: dict[str, int] = {}
        false_pairs = missed_pairs = settled_pairs = pending_rogues = 0
        for chain, chain_stores in stores.items():
            zone_of = {s["store_id"]: s["zone"] for s in chain_stores}
            group_of = await self.groups_of(chain)
            counts[chain] = len(set(group_of.values()))
            known = [sid for sid in zone_of if sid in group_of]
            false_pairs += _pairs_apart(known, group_of, zone_of)
            missed_pairs += _pairs_apart(known, zone_of, group_of)
            self._track_rogues(chain_stores, group_of, zone_of, day)
            pending = {s for s in self.rogue_days if s in zone_of and s not in self.rogue_ejected}
            pending_rogues += len(pending)
            settled = [sid for sid in known if sid not in pending]
            settled_pairs += _pairs_apart(settled, group_of, zone_of)
        return counts, false_pairs, missed_pairs, pending_rogues, settled_pairs

    async def groups_of(self, chain: str, attempts: int = 5) -> dict[str, str]:
        """Store -> group id. A grouping round may fold a listed group away before its
        members are read: the listing is then read again, for one consistent picture."""
        for _ in range(attempts - 1):
            try:
                return await self._groups_of(chain)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 404:
                    raise
                await asyncio.sleep(0.5)
        return await self._groups_of(chain)

    async def _groups_of(self, chain: str) -> dict[str, str]:
        body = await self.service("grouper", "/v1/groups", company=chain, limit=100000)
        groups = body["groups"] if isinstance(body, dict) else body
        out: dict[str, str] = {}
        for group in groups:
            members = group.get("members")
            if members is None:
                detail = await self.service("grouper", f"/v1/groups/{group['id']}")
                members = detail["members"]
            for member in members:
                out[str(member["store_id"])] = str(group["id"])
        return out

    def _track_rogues(
        self,
        chain_stores: list[dict[str, Any]],
        group_of: dict[str, str],
        zone_of: dict[str, str],
        day: int,
    ) -> None:
        for store in chain_stores:
            rogue_day = store.get("rogue_day")
            sid = store["store_id"]
            if rogue_day is None or rogue_day > day or sid in self.rogue_ejected:
                continue
            self.rogue_days[sid] = rogue_day
            before = store.get("zone_before")
            group = group_of.get(sid)
            still_with_old = any(
                other != sid and group_of.get(other) == group and zone_of.get(other) == before
                for other in zone_of
            )
            if group is not None and not still_with_old:
                self.rogue_ejected[sid] = day - rogue_day

    # --- costs -----------------------------------------------------------------------

    async def scrape_stats(self) -> dict[str, Any]:
        return dict(await self.service("scraper", "/v1/stats"))

    def brute_force(
        self, stats: dict[str, Any], stores: dict[str, list[dict[str, Any]]]
    ) -> dict[str, int]:
        """One day of brute force: every open store's full-scrape cost.

        A store this run never fully scraped is costed at the mean of the stores of its
        chain and division that were (a liquor store's catalogue costs a fraction of a
        supermarket's), else at the mean of its chain."""
        out: dict[str, int] = {}
        for chain, chain_stores in stores.items():
            costs = stats.get("full_scrape_requests", {}).get(chain, {})
            mean = statistics.fmean(costs.values()) if costs else 0.0
            seen: dict[str, list[float]] = defaultdict(list)
            for s in chain_stores:
                if s["store_id"] in costs:
                    seen[str(s.get("division"))].append(costs[s["store_id"]])
            by_division = {d: statistics.fmean(c) for d, c in seen.items()}
            out[chain] = round(
                sum(
                    costs.get(s["store_id"], by_division.get(str(s.get("division")), mean))
                    for s in chain_stores
                )
            )
        return out

    # --- the loop --------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        steps = max(1, 24 // self.config.step_hours)
        for day_index in range(self.config.days):
            started = time.monotonic()
            clock = await self.sandbox("/admin/clock")
            day = int(clock["day"])
            self.snapshot.update(
                {"day": day_index + 1, "days": self.config.days, "date": clock["date"]}
            )
            for step in range(steps):
                await self.settle()
                if step == steps - 1:
                    await self.finish_day(day, clock["date"], started)
                    self.write_partial()
                await self.advance(self.config.step_hours)
        return self.report()

    def write_partial(self) -> None:
        """The report over the days finished so far (``report.partial.json``, replaced
        whole after every day), so a long run that is stopped still shows what it found."""
        path = self.config.out_dir / "report.partial.json"
        spare = path.with_suffix(".tmp")
        spare.write_text(json.dumps(self.report(), indent=2))
        spare.replace(path)

    async def finish_day(self, day: int, date: str, started: float) -> None:
        evaluation = await self.evaluate(day)
        stores = await self.truth_stores(day)
        stats = await self.scrape_stats()
        catalogue, _ = await self.requests_by_chain()
        today = {c: catalogue.get(c, 0) - self._last_counts.get(c, 0) for c in CHAINS}
        self._last_counts = catalogue
        kinds = {k: stats.get("scrapes", {}).get(k, {}) for k in ("full", "spot")}
        record = DayRecord(
            day=day,
            date=date,
            requests=today,
            brute_force_requests=self.brute_force(stats, stores),
            full_scrapes={
                c: kinds["full"].get(c, 0) - self._last_kinds.get("full", {}).get(c, 0)
                for c in CHAINS
            },
            spot_scrapes={
                c: kinds["spot"].get(c, 0) - self._last_kinds.get("spot", {}).get(c, 0)
                for c in CHAINS
            },
            price_accuracy=evaluation.accuracy,
            price_pairs=evaluation.pairs,
            price_pairs_by_role=evaluation.by_role,
            coverage=evaluation.coverage,
            groups=evaluation.groups,
            false_merges=evaluation.false_merges,
            missed_merges=evaluation.missed_merges,
            rogues_pending=evaluation.rogues_pending,
            false_merges_without_pending_rogues=evaluation.false_merges_without_pending_rogues,
            wall_seconds=round(time.monotonic() - started, 1),
        )
        self._last_kinds = {k: dict(v) for k, v in kinds.items()}
        self.days.append(record)
        self.snapshot.update(
            {
                "accuracy": evaluation.accuracy,
                "coverage": evaluation.coverage,
                "groups": evaluation.groups,
            }
        )
        self.on_update(self.snapshot)

    def report(self) -> dict[str, Any]:
        return build_report(
            self.config, self.days, self.rogue_days, self.rogue_ejected, self.snapshot
        )


def _pairs_apart(ids: list[str], together: dict[str, str], apart: dict[str, str]) -> int:
    """Pairs that share a key in ``together`` but not in ``apart``."""
    buckets: dict[str, list[str]] = defaultdict(list)
    for sid in ids:
        buckets[together[sid]].append(sid)
    count = 0
    for members in buckets.values():
        sub: dict[str, int] = defaultdict(int)
        for sid in members:
            sub[apart[sid]] += 1
        n = len(members)
        count += (n * (n - 1) - sum(k * (k - 1) for k in sub.values())) // 2
    return count


async def _gather_limited(coros: list[Any], limit: int) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


def _sum(records: list[DayRecord], attr: str) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for record in records:
        for chain, value in getattr(record, attr).items():
            total[chain] += int(value or 0)
    return dict(total)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def build_report(
    config: SimulationConfig,
    days: list[DayRecord],
    rogue_days: dict[str, int],
    rogue_ejected: dict[str, int],
    snapshot: dict[str, Any],
) -> dict[str, Any]:
    ours = _sum(days, "requests")
    brute = _sum(days, "brute_force_requests")
    steady = days[1:] or days  # accuracy "after the first full cycle"
    by_chain_accuracy = {c: _mean([d.price_accuracy.get(c) for d in steady]) for c in CHAINS}
    # The share of all compared (store, product) pairs, pooled over chains and days.
    correct = sum(d.price_pairs.get(c, (0, 0))[0] for d in steady for c in CHAINS)
    compared = sum(d.price_pairs.get(c, (0, 0))[1] for d in steady for c in CHAINS)
    overall_accuracy = correct / compared if compared else None
    ejection = [rogue_ejected[s] for s in rogue_ejected]
    by_role: dict[str, dict[str, float | None]] = {}
    for chain in CHAINS:
        for role in ("anchor", "member"):
            kept = [d.price_pairs_by_role.get(chain, {}).get(role, (0, 0)) for d in steady]
            seen = sum(k[1] for k in kept)
            by_role.setdefault(chain, {})[role] = sum(k[0] for k in kept) / seen if seen else None
    return {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "generated_at": datetime.now(UTC).isoformat(),
        "requests": sum(ours.values()),
        "brute_force_requests": sum(brute.values()),
        "request_savings": round(sum(brute.values()) / max(1, sum(ours.values())), 2),
        "requests_by_chain": ours,
        "brute_force_requests_by_chain": brute,
        "request_savings_by_chain": {
            c: round(brute.get(c, 0) / max(1, ours.get(c, 0)), 2) for c in CHAINS
        },
        "locator_requests_by_chain": snapshot.get("locator_requests", {}),
        "full_scrapes": _sum(days, "full_scrapes"),
        "spot_scrapes": _sum(days, "spot_scrapes"),
        "price_accuracy": overall_accuracy,
        "price_accuracy_by_chain": by_chain_accuracy,
        # Pooled over the days like ``price_accuracy``; ``anchor`` includes stores alone.
        "price_accuracy_by_role": by_role,
        "coverage": _mean([_mean(list(d.coverage.values())) for d in steady]),
        "false_merges": days[-1].false_merges if days else None,
        "missed_merges": days[-1].missed_merges if days else None,
        "false_merges_without_pending_rogues": (
            days[-1].false_merges_without_pending_rogues if days else None
        ),
        "rogues_pending": days[-1].rogues_pending if days else None,
        "rogues": len(rogue_days),
        "rogues_ejected": len(rogue_ejected),
        "rogue_ejection_days_median": statistics.median(ejection) if ejection else None,
        "days": [asdict(d) for d in days],
    }
