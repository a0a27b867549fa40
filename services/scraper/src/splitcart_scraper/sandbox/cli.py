"""``splitcart sandbox serve``: run the simulated retailers on a local port."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from splitcart_scraper.sandbox.app import create_app
from splitcart_scraper.sandbox.faults import KNOBS, FaultConfig, Knob, quiet_dropped_connections

app = typer.Typer(
    help="The offline sandbox: simulated Coles, Woolworths, Aldi and IGA", no_args_is_help=True
)


@app.callback()
def main() -> None:
    """The offline sandbox (protocol: splitcart_scraper/sandbox/README.md)."""


Rate = Annotated[float, typer.Option(min=0.0, max=1.0)]


def fault_config(
    rates: dict[str, float],
    seed: int,
    chains: list[str] | None,
    retry_after: int,
    slow_seconds: float,
) -> FaultConfig:
    knobs = {name: Knob(rate, seed, chains) for name, rate in rates.items() if rate > 0}
    return FaultConfig(knobs=knobs, retry_after_seconds=retry_after, slow_seconds=slow_seconds)


@app.command()
def serve(
    seed: Annotated[int, typer.Option(help="world seed")] = 1,
    scale: Annotated[float | None, typer.Option(help="sets both store and product scale")] = None,
    store_scale: Annotated[float, typer.Option(help="share of the real store counts")] = 1.0,
    product_scale: Annotated[float, typer.Option(help="share of the real catalogue sizes")] = 1.0,
    host: str = "127.0.0.1",
    port: int = 8700,
    fault_rate_limit: Rate = 0.0,
    fault_server_error: Rate = 0.0,
    fault_slow: Rate = 0.0,
    fault_reset: Rate = 0.0,
    fault_malformed: Rate = 0.0,
    fault_truncated: Rate = 0.0,
    fault_store_mismatch: Rate = 0.0,
    fault_seed: int = 0,
    fault_chain: Annotated[list[str] | None, typer.Option(help="limit faults to chains")] = None,
    retry_after: int = 1,
    slow_seconds: float = 2.0,
) -> None:
    """Serve the sandbox until interrupted (see sandbox/README.md for the protocol)."""
    rates = dict(
        zip(
            KNOBS,
            (
                fault_rate_limit,
                fault_server_error,
                fault_slow,
                fault_reset,
                fault_malformed,
                fault_truncated,
                fault_store_mismatch,
            ),
            strict=True,
        )
    )
    faults = fault_config(rates, fault_seed, fault_chain or None, retry_after, slow_seconds)
    stores = scale if scale is not None else store_scale
    products = scale if scale is not None else product_scale
    typer.echo(f"building world seed={seed} store_scale={stores} product_scale={products} ...")
    application = create_app(seed, stores, products, faults, warm=True)
    quiet_dropped_connections()
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    app()
