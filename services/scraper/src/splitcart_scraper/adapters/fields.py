"""Cheap, typed field access for the parsers' hot loops.

Validating each product with pydantic costs more than parsing it; these helpers check
the one type each field must have and raise :class:`FieldError` naming the field, which
the parser turns into a :class:`ShapeError` carrying the full path.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson

from .errors import MalformedBodyError, ShapeError
from .money import MoneyError, dollars_to_cents


class FieldError(Exception):
    def __init__(self, key: str, detail: str) -> None:
        super().__init__(detail)
        self.key = key
        self.detail = detail


def fail(key: str, detail: str) -> NoReturn:
    raise FieldError(key, detail)


def _get(raw: dict[str, Any], key: str) -> Any:
    try:
        return raw[key]
    except KeyError:
        fail(key, "missing field")


def req_str(raw: dict[str, Any], key: str) -> str:
    value = _get(raw, key)
    if type(value) is not str:
        fail(key, f"expected a string, got {value!r}")
    return value


def opt_str(raw: dict[str, Any], key: str) -> str | None:
    """A string field that may be absent, null or blank (all mean 'not given')."""
    value = raw.get(key)
    if value is None:
        return None
    if type(value) is not str:
        fail(key, f"expected a string or null, got {value!r}")
    return value.strip() or None


def req_bool(raw: dict[str, Any], key: str) -> bool:
    value = _get(raw, key)
    if type(value) is not bool:
        fail(key, f"expected true/false, got {value!r}")
    return value


def req_dict(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = _get(raw, key)
    if type(value) is not dict:
        fail(key, f"expected an object, got {type(value).__name__}")
    return value


def opt_cents(raw: dict[str, Any], key: str) -> int | None:
    """Dollars (number) to cents; null means 'no price'."""
    value = raw.get(key)
    if value is None:
        return None
    if type(value) is int:
        return value * 100
    if type(value) is not float:
        fail(key, f"expected a number or null, got {value!r}")
    try:
        return dollars_to_cents(value)
    except MoneyError as exc:
        fail(key, str(exc))


def json_in_string(raw: dict[str, Any], key: str) -> Any:
    """Woolworths nests JSON documents inside string attributes."""
    value = raw.get(key)
    if value is None:
        return None
    if type(value) is not str:
        fail(key, f"expected a JSON string, got {value!r}")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        fail(key, f"not JSON inside the string: {exc}")


def shape_error(chain: str, path: str, exc: Exception) -> ShapeError:
    """A ShapeError for a failure while parsing the object at ``path``."""
    if isinstance(exc, FieldError):
        return ShapeError(chain, f"{path}.{exc.key}", exc.detail)
    if isinstance(exc, KeyError):
        return ShapeError(chain, f"{path}.{exc.args[0]}", "missing field")
    return ShapeError(chain, path, f"{type(exc).__name__}: {exc}")


def as_object(chain: str, data: Any, path: str = "$") -> dict[str, Any]:
    if type(data) is not dict:
        raise ShapeError(chain, path, f"expected a JSON object, got {type(data).__name__}")
    return data


def top_field(chain: str, data: dict[str, Any], key: str, kind: type, path: str = "$") -> Any:
    """A required top-level field of a response, of exactly ``kind``."""
    if key not in data:
        raise ShapeError(chain, f"{path}.{key}", "missing field")
    value = data[key]
    if type(value) is not kind:
        raise ShapeError(chain, f"{path}.{key}", f"expected {kind.__name__}, got {value!r:.80}")
    return value


def decode_json(chain: str, body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        snippet = body[:80].decode("utf-8", "replace")
        raise MalformedBodyError(
            chain, "$", f"{what} is not JSON ({exc}); starts {snippet!r}"
        ) from exc


def coordinate(value: Any) -> float | None:
    """A locator latitude/longitude (string or number); "0", blank or junk mean unknown."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number != 0.0 else None
