"""Alembic, one migration tree per owning service, each versioned inside its own schema.

A service's ``migrations/env.py`` is two lines: import its metadata and call
:func:`run_env`. ``splitcart migrate`` upgrades every installed service through
:func:`upgrade`, on Postgres (schemas created first) or SQLite (attached files as schemas).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from splitcart_shared.db import Database

FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s_%%(rev)s"


def alembic_config(script_location: Path, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    cfg.attributes["schema"] = schema
    return cfg


def run_env(context: Any, metadata: MetaData) -> None:
    """The body of every service's ``env.py``: migrate ``metadata``'s schema only."""
    connection: Connection = context.config.attributes["connection"]
    schema: str = context.config.attributes["schema"]

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return bool(getattr(obj, "schema", None) == schema)
        return True

    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_object=include,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(db: Database, script_location: Path, schema: str, revision: str = "head") -> None:
    await db.ensure_schemas()
    cfg = alembic_config(script_location, schema)

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_run)


async def downgrade(db: Database, script_location: Path, schema: str, revision: str) -> None:
    cfg = alembic_config(script_location, schema)

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_run)


async def autogenerate(db: Database, script_location: Path, schema: str, message: str) -> None:
    """Write a new revision from the difference between the models and the database."""
    await db.ensure_schemas()
    cfg = alembic_config(script_location, schema)

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)

    async with db.engine.begin() as conn:
        await conn.run_sync(_run)
