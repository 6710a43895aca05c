"""Which store a process uses, from one setting: SQLite at ``db_path`` by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..hub import Hub
from .interface import TelemetryStore
from .retention import RetentionPolicy

if TYPE_CHECKING:
    from ..settings import Settings

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(store_url: str) -> bool:
    return store_url.startswith(POSTGRES_SCHEMES)


def open_store(settings: Settings, hub: Hub | None = None) -> TelemetryStore:
    """``store_url`` empty or a file path: SQLite (the path wins over ``db_path``); ``postgresql://...``: PostgreSQL."""
    if is_postgres(settings.store_url):
        from .postgres import PostgresStore  # psycopg is needed only here

        return PostgresStore(
            settings.store_url,
            hub,
            queue_limit=settings.write_queue_spans,
            batch_limit=settings.write_batch_spans,
            partition_hours=settings.postgres_partition_hours,
            retention=RetentionPolicy.from_settings(settings),
        )
    from .sqlite import Store

    return Store(
        Path(settings.store_url) if settings.store_url else settings.db_path,
        hub,
        queue_limit=settings.write_queue_spans,
        batch_limit=settings.write_batch_spans,
        retention=RetentionPolicy.from_settings(settings),
        cache_mb=settings.sqlite_writer_cache_mb,
        writer_process=settings.sqlite_writer_process,
    )
