"""Counter-based hashing: every random quantity of the world is a pure function of its keys.

Nothing is materialised per (store, product, day); a price is recomputed from
(seed, zone, product, day) whenever asked, so the same seed always yields the same world
and whole pages or whole stores are computed in one vectorised pass.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

U64 = NDArray[np.uint64]
F64 = NDArray[np.float64]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / float(1 << 53)

# Stream tags keep independent decisions independent even for equal other keys.
TAG_DRIFT = 11
TAG_DEVIATE = 12
TAG_FACTOR = 13
TAG_SPECIAL = 14
TAG_DISCOUNT = 15
TAG_FRESH_PICK = 16
TAG_FRESH_FACTOR = 17
TAG_RRP = 18
TAG_AVAILABLE = 19
TAG_SPONSOR = 20
TAG_FAULT = 21


def _as_u64(part: ArrayLike) -> U64:
    arr = np.asarray(part)
    if arr.dtype != np.uint64:
        arr = arr.astype(np.int64).astype(np.uint64)
    return np.atleast_1d(arr)


def _splitmix(x: U64) -> U64:
    z = x + _GAMMA
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


_MASK = (1 << 64) - 1


def _splitmix_int(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def hash_keys(*parts: ArrayLike) -> U64:
    """Hash broadcastable integer key arrays into uint64 (wrapping arithmetic is intended).

    Leading scalar keys are folded with plain integers; NumPy only runs once an array key
    appears, so callers put array keys last to hash a page in one vectorised pass.
    """
    scalar = 0
    rest = list(parts)
    while rest:
        head = rest[0]
        if not isinstance(head, int | np.integer):
            break
        scalar = _splitmix_int(scalar ^ (int(head) & _MASK))
        rest.pop(0)
    acc = np.full(1, scalar, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in rest:
            acc = _splitmix(acc ^ _as_u64(part))
    return acc


def uniform(*parts: ArrayLike) -> F64:
    """A uniform float in [0, 1) per broadcast key."""
    return (hash_keys(*parts) >> _S11).astype(np.float64) * _INV53


def key_of(text: str) -> int:
    """A stable 63-bit integer key for a string id (zone ids, store ids)."""
    acc = 1469598103934665603
    for byte in text.encode():
        acc = ((acc ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return acc & 0x7FFFFFFFFFFFFFFF
