"""``splitcart bench scheduler``: lease throughput and latency against a real server.

Creates its own Postgres database, seeds ``stores`` stores over the four companies, runs the
scheduler under uvicorn in a child process on a free loopback port, and drives it with
``clients`` concurrent HTTP clients that lease and complete as fast as they can for
``seconds``. Every completed store is due again at once (``anchor_refresh`` and
``alone_refresh`` 0), so clients compete for the same stores all the time; the per-company
cap is set to ``clients`` so it never binds. Each client records when it got each store and
when it let go (before calling ``/complete``); a store received while another client still
held it is a double hand-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from splitcart_shared.clock import clock
from splitcart_shared.db import Database
from splitcart_shared.events import COMPANIES, StoreRecord, StoresDiscovered
from splitcart_shared.logging import configure_logging
from splitcart_shared.migrations import upgrade
from splitcart_shared.testing import (
    PG_ADMIN_DSN,
    create_pg_database,
    drop_pg_database,
    unique_name,
)

from splitcart_scheduler import service as scheduling
from splitcart_scheduler.app import create_app, service
from splitcart_scheduler.models import SCHEMA
from splitcart_scheduler.settings import SchedulerSettings

BENCH_TOKEN = "bench-token-0123456789abcdef"
WARM_UP_SECONDS = 2.0


def bench(
    stores: int = 4000,
    clients: int = 64,
    seconds: float = 10.0,
    workers: int = 1,
    client_processes: int = 0,
) -> None:
    """Lease throughput: prints JSON with leases_per_second, p50_ms, p99_ms, double_handouts.

    ``workers``: uvicorn worker processes; ``client_processes``: processes the clients are
    spread over (0: one per four CPUs, at least one).
    """
    configure_logging("WARNING")  # stdout carries only the result
    processes = client_processes or max(1, (os.cpu_count() or 1) // 4)
    print(json.dumps(asyncio.run(run(stores, clients, seconds, workers, processes))))


async def run(
    stores: int, clients: int, seconds: float, workers: int = 1, processes: int = 1
) -> dict[str, Any]:
    name = unique_name("splitcart_bench_scheduler_")
    url = await create_pg_database(name)
    try:
        await _prepare(url, stores, cap=clients)
        with _server(url, cap=clients, workers=workers) as server:
            await _wait_ready(server.base_url)
            cpu_before = server.cpu_seconds()
            db_before = await _backends_cpu(name)
            result, client_cpu = await _drive(server.base_url, clients, seconds, processes)
            # The warm-up's share is taken off, as for the clients.
            share = seconds / (seconds + WARM_UP_SECONDS)
            server_cpu = (server.cpu_seconds() - cpu_before) * share
            db_after = await _backends_cpu(name)
            db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items()) * share
    finally:
        await drop_pg_database(name)
    # CPU per lease (lease + complete) says what the throughput would be on an idle machine.
    leases = max(result["leases"], 1)
    return {
        "stores": stores,
        "clients": clients,
        "server_workers": workers,
        "client_processes": processes,
        **result,
        "server_cpu_ms_per_lease": round(server_cpu * 1000 / leases, 2),
        "client_cpu_ms_per_lease": round(client_cpu * 1000 / leases, 2),
        "db_cpu_ms_per_lease": round(db_cpu * 1000 / leases, 2),
        "cpus": os.cpu_count(),
    }


async def _prepare(url: str, stores: int, cap: int) -> None:
    db = Database(url)
    try:
        assert service.migrations is not None
        await upgrade(db, service.migrations, SCHEMA)
        settings = _settings(url, cap)
        policy = scheduling.Policy.from_settings(settings)
        async with db.transaction() as session:
            await scheduling.sync_slots(session, settings)
            for company, records in _stores(stores).items():
                event = StoresDiscovered(company=company, swept_at=clock.now(), stores=records)
                await scheduling.apply_discovery(session, policy, event)
    finally:
        await db.dispose()


def _stores(count: int) -> dict[Any, list[StoreRecord]]:
    per_company: dict[Any, list[StoreRecord]] = {c: [] for c in COMPANIES}
    for i in range(count):
        company = COMPANIES[i % len(COMPANIES)]
        record = StoreRecord(store_id=f"{company}-{i}", name=f"Bench {i}", division="Bench")
        per_company[company].append(record)
    return per_company


def _settings(url: str, cap: int) -> SchedulerSettings:
    return SchedulerSettings(
        database_url=url,
        anchor_refresh_hours=0.0,
        alone_refresh_hours=0.0,
        company_lease_cap={c: cap for c in COMPANIES},
        api_tokens={"bench": {"token": BENCH_TOKEN, "scopes": ["read", "write"]}},
        log_level="WARNING",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _server:
    """uvicorn in a child process, so the server and the clients each have their own core."""

    def __init__(self, url: str, cap: int, workers: int) -> None:
        self.port = _free_port()
        self.workers = workers
        settings = _settings(url, cap)
        self.env = {
            **os.environ,
            "SPLITCART_DATABASE_URL": url,
            "SPLITCART_ANCHOR_REFRESH_HOURS": "0",
            "SPLITCART_ALONE_REFRESH_HOURS": "0",
            "SPLITCART_COMPANY_LEASE_CAP": orjson.dumps(settings.company_lease_cap).decode(),
            "SPLITCART_API_TOKENS": orjson.dumps(
                {k: v.model_dump() for k, v in settings.api_tokens.items()}
            ).decode(),
            "SPLITCART_LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes (Linux ``/proc``; 0 elsewhere)."""
        if self.process is None:
            return 0.0
        return sum(_cpu_of(pid) for pid in _tree(self.process.pid))

    def __enter__(self) -> _server:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "splitcart_scheduler.bench:server_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning",
            "--workers", str(self.workers),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, env=self.env)
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(int(child)))]


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, fields 14 and 15 of proc(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each Postgres backend serving ``database`` (when Postgres runs on this
    machine; empty otherwise)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return {int(r["pid"]): _cpu_of(int(r["pid"])) for r in rows}


def server_app() -> Any:
    """The app uvicorn runs in the child process (settings come from its environment)."""
    settings = SchedulerSettings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


async def _wait_ready(base_url: str, patience: float = 120.0) -> None:
    deadline = time.monotonic() + patience
    async with httpx.AsyncClient(base_url=base_url) as client:
        while True:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the scheduler did not become ready")
            await asyncio.sleep(0.1)


@dataclass
class _Tally:
    """What one client process saw. ``holds``: per lease, the store and the moments (system
    monotonic clock, comparable across processes) its client got it and let it go."""

    lease_ms: list[float] = field(default_factory=list)
    complete_ms: list[float] = field(default_factory=list)
    holds: list[tuple[str, float, float]] = field(default_factory=list)
    empty: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


async def _drive(
    base_url: str, clients: int, seconds: float, processes: int
) -> tuple[dict[str, Any], float]:
    """Run the clients in ``processes`` processes; returns the result and the clients' CPU
    seconds."""
    shares = [list(range(p, clients, processes)) for p in range(processes)]
    if processes == 1:
        tallies = [await _drive_share(base_url, shares[0], seconds)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            loop = asyncio.get_running_loop()
            futures = [
                loop.run_in_executor(pool, _drive_share_sync, base_url, share, seconds)
                for share in shares
            ]
            tallies = list(await asyncio.gather(*futures))
    return _summary(tallies), sum(t.cpu_seconds for t in tallies)


def _drive_share_sync(base_url: str, share: list[int], seconds: float) -> _Tally:
    return asyncio.run(_drive_share(base_url, share, seconds))


async def _drive_share(base_url: str, share: list[int], seconds: float) -> _Tally:
    """Warm up (connections opened, statements prepared), then measure for ``seconds``."""
    warm, tally = _Tally(), _Tally()
    started = time.monotonic() + WARM_UP_SECONDS
    phases = [(warm, started), (tally, started + seconds)]
    cpu = time.process_time()
    await asyncio.gather(*(_client(base_url, n, phases) for n in share))
    tally.seconds = time.monotonic() - started
    tally.cpu_seconds = (time.process_time() - cpu) * seconds / (seconds + WARM_UP_SECONDS)
    tally.holds += warm.holds
    return tally


def _summary(tallies: list[_Tally]) -> dict[str, Any]:
    lease_ms = sorted(ms for t in tallies for ms in t.lease_ms)
    complete_ms = sorted(ms for t in tallies for ms in t.complete_ms)
    elapsed = max(t.seconds for t in tallies)
    return {
        "seconds": round(elapsed, 2),
        "leases": len(complete_ms),
        "leases_per_second": round(len(complete_ms) / elapsed, 1),
        "p50_ms": _percentile(lease_ms, 0.50),
        "p99_ms": _percentile(lease_ms, 0.99),
        "complete_p99_ms": _percentile(complete_ms, 0.99),
        "double_handouts": double_handouts([h for t in tallies for h in t.holds]),
        "empty_responses": sum(t.empty for t in tallies),
        "errors": sum(t.errors for t in tallies),
    }


def double_handouts(holds: list[tuple[str, float, float]]) -> int:
    """Leases received while another client still held the store (had not yet even sent
    its complete): the scheduler handed one store to two holders at once."""
    doubles = 0
    released_by_store: dict[str, float] = {}
    for store, got, let_go in sorted(holds, key=lambda hold: hold[1]):
        if got < released_by_store.get(store, float("-inf")):
            doubles += 1
        released_by_store[store] = max(let_go, released_by_store.get(store, float("-inf")))
    return doubles


async def _client(base_url: str, n: int, phases: list[tuple[_Tally, float]]) -> None:
    for tally, stop_at in phases:
        while time.monotonic() < stop_at:
            try:
                async with _Connection(base_url, BENCH_TOKEN) as client:
                    while time.monotonic() < stop_at:
                        await _round(client, n, tally)
            except (OSError, asyncio.IncompleteReadError):
                tally.errors += 1  # the server dropped the connection: counted, reconnected


async def _round(client: _Connection, n: int, tally: _Tally) -> None:
    began = time.monotonic()
    status, body = await client.post("/v1/leases", orjson.dumps({"worker_id": f"bench-{n}"}))
    got = time.monotonic()
    tally.lease_ms.append((got - began) * 1000)
    if status == 204:
        tally.empty += 1
        return
    if status != 200:
        tally.errors += 1
        return
    lease = orjson.loads(body)
    await asyncio.sleep(0)  # hold the store while the other clients run
    # Let go before telling the scheduler, so a legitimate re-lease is never miscounted.
    let_go = time.monotonic()
    tally.holds.append((f"{lease['store']['company']}/{lease['store']['store_id']}", got, let_go))
    status, _ = await client.post(f"/v1/leases/{lease['token']}/complete", b"")
    tally.complete_ms.append((time.monotonic() - let_go) * 1000)
    if status != 200:
        tally.errors += 1


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON, one request at a time.

    The load generator shares the machine's cores with the server: a general-purpose client
    (httpx) spends more CPU per request than the scheduler does answering it, so the benchmark
    would measure the clients. This one only frames requests and reads ``Content-Length``
    bodies, which is all the scheduler's answers use.
    """

    def __init__(self, base_url: str, token: str) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self.head = (
            f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> _Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """The answer's status and body."""
        assert self.reader is not None and self.writer is not None
        request = b"POST %s HTTP/1.1\r\n%s%d\r\n\r\n%s" % (
            path.encode(),
            self.head,
            len(body),
            body,
        )
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise ValueError("chunked answers are not supported")
        return status, await self.reader.readexactly(length) if length else b""


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)
