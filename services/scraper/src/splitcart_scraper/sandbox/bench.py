"""``splitcart bench sandbox``: how fast the sandbox serves product-listing pages.

Starts the sandbox in a child process on a free loopback port (so its memory is measured
alone), drives listing pages of all four chains over HTTP for a bounded number of requests
or seconds, and reports pages per second and the server's peak RSS.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import psutil

from splitcart_scraper.sandbox.coles import build_id, subscription_key

_INCAP = {"visid_incap_1": "bench", "incap_ses_1_1": "bench"}
_IGA_MODE = {"x-shopping-mode": "11111111-1111-1111-1111-111111111111"}


@dataclass
class _Page:
    method: str
    url: str
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


def run_bench(
    seed: int = 1,
    scale: float = 1.0,
    requests: int = 4000,
    seconds: float = 30.0,
    concurrency: int = 1,
    startup_timeout: float = 180.0,
) -> dict[str, Any]:
    """Serve the sandbox at ``scale``, fetch up to ``requests`` listing pages (or stop after
    ``seconds``) and return the bench JSON."""
    with tempfile.TemporaryFile() as log:
        port = _free_port()
        server = _start_server(seed, scale, port, log)
        sampler = _RssSampler(server.pid)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server, startup_timeout, log)
            sampler.start()
            pages = _plan(base, seed, requests)
            cpu_before = _cpu_seconds(sampler.process)
            done, errors, elapsed = _drive(base, pages, concurrency, seconds)
            server_cpu = _cpu_seconds(sampler.process) - cpu_before
            counters = httpx.get(f"{base}/admin/counters").json()
        finally:
            sampler.stop()
            peak = max(sampler.peak_mb, _hwm_mb(server.pid))
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
    return {
        "bench": "sandbox",
        "seed": seed,
        "scale": scale,
        "concurrency": concurrency,
        "pages": done,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "pages_per_second": round(done / elapsed, 1) if elapsed > 0 else 0.0,
        "peak_rss_mb": round(peak, 1),
        # Load-independent: pages per second of the server's own CPU time.
        "server_cpu_seconds": round(server_cpu, 3),
        "pages_per_server_cpu_second": round(done / server_cpu, 1) if server_cpu > 0 else 0.0,
        "server_pages_counted": counters["pages"],
    }


def bench_command(
    seed: int = 1,
    scale: float = 1.0,
    requests: int = 4000,
    seconds: float = 30.0,
    concurrency: int = 1,
) -> None:
    """Print the sandbox bench JSON (mounted as ``splitcart bench sandbox``)."""
    print(json.dumps(run_bench(seed, scale, requests, seconds, concurrency)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(seed: int, scale: float, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "splitcart_scraper.sandbox.cli",
        "serve",
        "--seed",
        str(seed),
        "--scale",
        str(scale),
        "--port",
        str(port),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"sandbox server exited during start-up:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/admin/clock", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError("sandbox server did not start in time")


class _RssSampler:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(psutil.Error):
                self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _hwm_mb(pid: int) -> float:
    """Kernel-recorded peak RSS (Linux), which sampling could miss."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _plan(base: str, seed: int, count: int) -> list[_Page]:
    """Listing pages spread over chains, stores, categories and page numbers."""
    with httpx.Client(base_url=base, timeout=30) as client:
        per_chain = [_woolworths(client), _coles(client, seed), _aldi(client), _iga(client)]
    mixed = [p for group in itertools.zip_longest(*per_chain) for p in group if p is not None]
    return list(itertools.islice(itertools.cycle(mixed), count))


def _woolworths(client: httpx.Client) -> list[_Page]:
    session = client.get("/woolworths/").cookies["wow-session"]
    client.cookies.clear()
    cookies = {"wow-session": session}
    cats = client.get(
        "/woolworths/apis/ui/PiesCategoriesWithSpecials", headers=_cookie_header(cookies)
    ).json()
    nodes = [n for n in cats["Categories"] if n["ProductCount"] > 0]
    return [
        _Page(
            "POST",
            "/woolworths/apis/ui/browse/category",
            cookies=cookies,
            body={"categoryId": n["NodeId"], "pageNumber": p, "pageSize": 36},
        )
        for n in nodes
        for p in _pages(n["ProductCount"], 36)
    ]


def _coles(client: httpx.Client, seed: int) -> list[_Page]:
    build, key = build_id(seed), subscription_key(seed)
    stores = client.post(
        "/coles/api/graphql",
        headers={"ocp-apim-subscription-key": key, **_cookie_header(_INCAP)},
        json={
            "operationName": "GetStores",
            "variables": {"latitude": -33.87, "longitude": 151.0, "numberOfStores": 20},
        },
    ).json()
    numbers = [r["store"]["id"].split(":")[1] for r in stores["data"]["stores"]["results"]]
    menu = client.post(
        "/coles/api/graphql",
        headers={"ocp-apim-subscription-key": key, **_cookie_header(_INCAP)},
        json={"operationName": "GetShopProductsMenu", "variables": {}},
    ).json()
    items = menu["data"]["menuItems"]["items"]
    return [
        _Page(
            "GET",
            f"/coles/_next/data/{build}/en/browse/{i['seoToken']}.json",
            params={"slug": i["seoToken"], "page": p},
            cookies={**_INCAP, "fulfillmentStoreId": numbers[p % len(numbers)]},
        )
        for i in items
        for p in _pages(i["productCount"], 48)
    ]


def _aldi(client: httpx.Client) -> list[_Page]:
    origin = {"latitude": -33.87, "longitude": 151.0}
    ids = [p["id"] for p in client.get("/aldi/v2/service-points", params=origin).json()["data"]]
    tree = client.get("/aldi/v2/product-category-tree", params={"servicePoint": ids[0]}).json()
    pages = []
    for node in tree["data"]:
        params = {
            "currency": "AUD",
            "serviceType": "walk-in",
            "categoryKey": node["key"],
            "limit": 30,
            "offset": 0,
            "sort": "relevance",
            "servicePoint": ids[0],
        }
        meta = client.get("/aldi/v3/product-search", params=params).json()["meta"]
        count = meta["pagination"]["totalCount"]
        pages += [
            _Page("GET", "/aldi/v3/product-search", params={**params, "offset": 30 * p})
            for p in range(-(-count // 30))
        ]
    return pages


def _iga(client: httpx.Client) -> list[_Page]:
    text = client.get("/iga-locator/location/storelocator/183/", params={"locationId": 1}).text
    content = json.loads(text[text.find("(") + 1 : text.rfind(")")])["content"]
    records = [
        json.loads(html.unescape(m)) for m in re.findall(r'data-storedata="([^"]*)"', content)
    ]
    rids = [r["retailerStoreId"] for r in records if r["retailerStoreId"]][:5]
    return [page for rid in rids for page in _iga_store(client, rid)]


def _iga_store(client: httpx.Client, rid: str) -> list[_Page]:
    cookies = {"iga-shop.retailerStoreId": rid}
    tree = client.get(
        f"/iga/api/storefront/stores/{rid}/categoryHierarchy",
        headers={**_IGA_MODE, **_cookie_header(cookies)},
    ).json()
    departments = [d["identifier"] for d in tree["children"][0]["children"]]
    session = str(uuid.uuid4())
    return [
        _Page(
            "GET",
            f"/iga/api/storefront/stores/{rid}/categories/{d}/search",
            params={"take": 36, "skip": 36 * p, "sessionId": session},
            headers=_IGA_MODE,
            cookies=cookies,
        )
        for d in departments
        for p in range(2)
    ]


def _pages(count: int, size: int) -> Iterator[int]:
    return iter(range(1, max(1, -(-count // size)) + 1))


def _cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    # Cookies travel as a header: each page names its own session, the client keeps none.
    return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}


def _headers(page: _Page) -> dict[str, str]:
    return {**page.headers, **_cookie_header(page.cookies)}


def _drive(
    base: str, pages: list[_Page], concurrency: int, seconds: float
) -> tuple[int, int, float]:
    """Fetch pages with ``concurrency`` threads, each with its own keep-alive httpx client.

    One client thread is the default: on a small machine more client threads contend for
    the GIL and the CPU the server needs, and measure the client instead of the server.
    """
    queue = iter(pages)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    totals = {"done": 0, "errors": 0}

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.monotonic() < deadline:
                with lock:
                    page = next(queue, None)
                if page is None:
                    return
                response = client.request(
                    page.method,
                    page.url,
                    params=page.params,
                    json=page.body,
                    headers=_headers(page),
                )
                with lock:
                    totals["done"] += 1
                    totals["errors"] += response.status_code != 200

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals["done"], totals["errors"], time.monotonic() - start


if __name__ == "__main__":
    bench_command()
