"""Plausible Australian geography: states, localities (suburb, postcode, coordinates)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOCALITIES_PER_STATE = 80


@dataclass(frozen=True)
class StateInfo:
    code: str
    name: str
    postcodes: tuple[int, int]
    cities: tuple[tuple[float, float, float], ...]  # (lat, lng, spread in degrees)
    outback: tuple[float, float, float, float]  # lat_min, lat_max, lng_min, lng_max
    phone_area: str
    gmt: str


STATES: tuple[StateInfo, ...] = (
    StateInfo(
        "NSW",
        "New South Wales",
        (2000, 2599),
        (
            (-33.87, 151.00, 0.45),
            (-32.93, 151.70, 0.25),
            (-34.42, 150.87, 0.2),
            (-33.28, 149.10, 0.8),
        ),
        (-33.5, -29.5, 141.5, 148.0),
        "02",
        "10:0",
    ),
    StateInfo(
        "VIC",
        "Victoria",
        (3000, 3996),
        (
            (-37.81, 144.96, 0.45),
            (-38.15, 144.36, 0.2),
            (-37.56, 143.85, 0.2),
            (-36.76, 144.28, 0.5),
        ),
        (-37.0, -35.0, 141.0, 143.5),
        "03",
        "10:0",
    ),
    StateInfo(
        "QLD",
        "Queensland",
        (4000, 4899),
        (
            (-27.47, 153.02, 0.45),
            (-28.00, 153.40, 0.2),
            (-26.65, 153.07, 0.2),
            (-19.26, 146.80, 0.4),
            (-16.92, 145.77, 0.3),
        ),
        (-26.0, -20.0, 139.0, 145.0),
        "07",
        "10:0",
    ),
    StateInfo(
        "WA",
        "Western Australia",
        (6000, 6797),
        ((-31.95, 115.86, 0.4), (-32.53, 115.72, 0.15), (-33.33, 115.64, 0.3)),
        (-30.0, -20.0, 116.0, 125.0),
        "08",
        "8:0",
    ),
    StateInfo(
        "SA",
        "South Australia",
        (5000, 5799),
        ((-34.93, 138.60, 0.35), (-35.12, 139.27, 0.3)),
        (-32.0, -28.0, 133.0, 138.0),
        "08",
        "9:30",
    ),
    StateInfo(
        "TAS",
        "Tasmania",
        (7000, 7470),
        ((-42.88, 147.33, 0.25), (-41.44, 147.14, 0.25), (-41.18, 146.35, 0.2)),
        (-42.5, -41.8, 145.4, 146.2),
        "03",
        "10:0",
    ),
    StateInfo(
        "ACT",
        "Australian Capital Territory",
        (2600, 2620),
        ((-35.28, 149.13, 0.12),),
        (-35.60, -35.45, 148.95, 149.05),
        "02",
        "10:0",
    ),
    StateInfo(
        "NT",
        "Northern Territory",
        (800, 899),
        ((-12.46, 130.84, 0.15), (-23.70, 133.88, 0.1)),
        (-20.0, -14.0, 131.0, 136.0),
        "08",
        "9:30",
    ),
)
STATE_BY_CODE = {s.code: s for s in STATES}

_HEADS = (
    "Ash",
    "Bel",
    "Carr",
    "Dun",
    "Elm",
    "Fair",
    "Glen",
    "Hol",
    "Ivan",
    "Jar",
    "Kel",
    "Lang",
    "Mar",
    "Nor",
    "Oak",
    "Pen",
    "Quin",
    "Ros",
    "Spring",
    "Thorn",
    "Wal",
    "Wood",
    "Bay",
    "Cran",
    "Mill",
    "Kings",
    "Red",
    "Black",
    "Green",
    "Silver",
    "Camp",
    "Marl",
)
_TAILS = (
    "field",
    "vale",
    "wood",
    "ton",
    "dale",
    "brook",
    "ford",
    "mead",
    "hurst",
    "leigh",
    "bank",
    " Heights",
    " Park",
    " Hill",
    " Beach",
    " Creek",
    " Downs",
    " Point",
)
_STREETS = (
    "Main",
    "High",
    "Station",
    "Church",
    "Victoria",
    "George",
    "King",
    "Queen",
    "Park",
    "Railway",
    "Bridge",
    "Elizabeth",
    "Albert",
    "Macquarie",
    "Flinders",
    "Murray",
)
_STREET_KINDS = ("Street", "Road", "Parade", "Avenue", "Drive", "Highway", "Boulevard")


@dataclass(frozen=True)
class Locality:
    location_id: int  # 1-based, the IGA locator's locationId
    state: str
    suburb: str
    postcode: int
    lat: float
    lng: float
    remote: bool


def build_localities(seed: int) -> list[Locality]:
    """A fixed table: LOCALITIES_PER_STATE per state, a few of them remote (outback)."""
    rng = np.random.default_rng([seed, 101])
    out: list[Locality] = []
    for state in STATES:
        names = _unique_names(rng, LOCALITIES_PER_STATE)
        lo, hi = state.postcodes
        for i, suburb in enumerate(names):
            remote = i >= LOCALITIES_PER_STATE - 6
            lat, lng = _place(rng, state, remote)
            postcode = int(lo + (hi - lo) * i / LOCALITIES_PER_STATE)
            out.append(Locality(len(out) + 1, state.code, suburb, postcode, lat, lng, remote))
    return out


def _unique_names(rng: np.random.Generator, count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(str(rng.choice(_HEADS)) + str(rng.choice(_TAILS)))
    return sorted(seen)


def _place(rng: np.random.Generator, state: StateInfo, remote: bool) -> tuple[float, float]:
    if remote:
        lat_min, lat_max, lng_min, lng_max = state.outback
        return float(rng.uniform(lat_min, lat_max)), float(rng.uniform(lng_min, lng_max))
    lat, lng, spread = state.cities[int(rng.integers(len(state.cities)))]
    return float(lat + rng.normal(0, spread / 2)), float(lng + rng.normal(0, spread / 2))


def street_address(rng: np.random.Generator) -> str:
    number = int(rng.integers(1, 400))
    return f"{number} {rng.choice(_STREETS)} {rng.choice(_STREET_KINDS)}"


def haversine_km(lat: float, lng: float, lats: np.ndarray, lngs: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat), np.radians(lats)
    dlat = p2 - p1
    dlng = np.radians(lngs - lng)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlng / 2) ** 2
    result: np.ndarray = 6371.0 * 2 * np.arcsin(np.sqrt(a))
    return result
