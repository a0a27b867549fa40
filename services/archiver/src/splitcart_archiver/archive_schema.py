"""The JSON Schemas of both archive formats, shipped in the package (``formats/``) and
served at ``GET /v1/archives/schemas/{format}``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ArchiveFormat = Literal["company", "store"]
FORMATS: tuple[ArchiveFormat, ...] = ("company", "store")


@cache
def _text(archive_format: ArchiveFormat) -> str:
    files = resources.files("splitcart_archiver").joinpath("formats")
    return files.joinpath(f"{archive_format}.schema.json").read_text(encoding="utf-8")


def json_schema(archive_format: ArchiveFormat) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_text(archive_format))
    return schema


def validator(archive_format: ArchiveFormat) -> Draft202012Validator:
    """A validator that resolves the company schema's reference to the store schema."""
    schemas = {name: json_schema(name) for name in FORMATS}
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return Draft202012Validator(
        schemas[archive_format],
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
