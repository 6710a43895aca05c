"""The SQLite writer's page cache is a setting (TELEMETRON_SQLITE_WRITER_CACHE_MB) that reaches its connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from telemetron_oracle_api.settings import settings_from_environment
from telemetron_oracle_api.store.open import open_store


def writer_cache_kib(store) -> int:
    return store.writer_status()["cache_kib"]


def test_the_writer_cache_is_8_mib_by_default_and_follows_its_variable(tmp_path: Path, monkeypatch) -> None:
    store = open_store(settings_from_environment(db_path=tmp_path / "a.db"))
    try:
        assert writer_cache_kib(store) == 8 * 1024
    finally:
        store.close()
    monkeypatch.setenv("TELEMETRON_SQLITE_WRITER_CACHE_MB", "24")
    store = open_store(settings_from_environment(db_path=tmp_path / "b.db"))
    try:
        assert writer_cache_kib(store) == 24 * 1024
    finally:
        store.close()


def test_a_cache_below_sqlites_own_default_is_refused() -> None:
    with pytest.raises(ValidationError, match="sqlite_writer_cache_mb"):
        settings_from_environment(sqlite_writer_cache_mb=1)
