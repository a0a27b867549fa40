"""The sandbox as one ASGI app: four chains under their prefixes, /admin for evaluation."""

from __future__ import annotations

from fastapi import FastAPI

from splitcart_scraper.sandbox import aldi, coles, iga, woolworths
from splitcart_scraper.sandbox.admin import router as admin_router
from splitcart_scraper.sandbox.common import Sandbox
from splitcart_scraper.sandbox.faults import FaultConfig, FaultInjector, FaultMiddleware
from splitcart_scraper.sandbox.world import World


def create_app(
    seed: int,
    store_scale: float = 1.0,
    product_scale: float = 1.0,
    faults: FaultConfig | None = None,
    world: World | None = None,
    warm: bool = False,
) -> FastAPI:
    """Build the sandbox. Pass ``world`` to reuse an already generated one (same seed/scales);
    ``warm`` pre-serialises every product's static fields (slower start, faster first pages)."""
    world = world or World(seed, store_scale, product_scale)
    injector = FaultInjector(faults)
    sandbox = Sandbox(world=world, faults=injector)
    app = FastAPI(
        title="splitcart sandbox",
        version="1",
        docs_url="/admin/docs",
        openapi_url="/admin/openapi.json",
    )
    app.state.world = world
    app.state.sandbox = sandbox
    # Chain endpoints are plain Starlette routes: no validation layer on the hot path.
    for module in (woolworths, coles, aldi, iga):
        app.router.routes.extend(module.routes(sandbox))
    app.include_router(admin_router())
    if warm:
        sandbox.warm()
    app.add_middleware(FaultMiddleware, injector=injector)
    return app
