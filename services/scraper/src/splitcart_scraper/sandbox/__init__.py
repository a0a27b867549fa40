"""The offline sandbox: a deterministic simulated Australia of four grocery chains."""

from splitcart_scraper.sandbox.app import create_app
from splitcart_scraper.sandbox.faults import FaultConfig, Knob
from splitcart_scraper.sandbox.world import World

__all__ = ["FaultConfig", "Knob", "World", "create_app"]
