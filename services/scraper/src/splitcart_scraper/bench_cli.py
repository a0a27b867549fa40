"""Benchmark commands of the scraper package (entry points ``splitcart.bench``)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import typer
import uvicorn

from splitcart_scraper import bench_parse


def _serve_sandbox(seed: int, scale: float) -> tuple[uvicorn.Server, str]:
    from splitcart_scraper.sandbox import create_app
    from splitcart_scraper.sandbox.bench import _free_port

    port = _free_port()
    app = create_app(seed=seed, store_scale=scale, product_scale=scale, faults=None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def scraper(
    pages: int = typer.Option(bench_parse.PAGES_PER_CHAIN, help="recorded pages per chain"),
    stores_per_chain: int = typer.Option(2, help="stores scraped end to end per chain"),
    scale: float = typer.Option(0.1, help="sandbox scale for the end-to-end part"),
) -> None:
    """Parse+normalise speed from recorded pages, and end-to-end speed against the sandbox."""
    result: dict[str, Any] = bench_parse.run_bench(pages=pages)
    server, base = _serve_sandbox(seed=7, scale=scale)
    try:
        urls = {c: f"{base}/{c}" for c in ("coles", "woolworths", "aldi", "iga")}
        urls["iga_locator"] = f"{base}/iga-locator"
        end_to_end = bench_parse.run_sandbox_bench(urls, stores_per_chain=stores_per_chain)
    finally:
        server.should_exit = True
    result.update(end_to_end)
    print(json.dumps(result))
