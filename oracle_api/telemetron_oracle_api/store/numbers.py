"""Small tables that number each distinct value once, so the big tables hold the number instead:
attribute keys (attribute_index.py), span sources (span_sources.py), span shapes and services
(span_layout.py)."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable

# One column's value, or a tuple of several columns' values (None for NULL where a column allows it).
Value = str | tuple[str | int | None, ...]

# Numbers kept in memory per table. Senders choose the values (attribute keys, scope names), so a hostile
# or careless one could make millions; past this many the oldest are forgotten and, when met again,
# looked up in the table (the number never changes).
KEPT = 65_536


class Numbers:
    """The writer's numbers of one such table, kept in memory once committed.

    Numbers start at 1 (an INTEGER PRIMARY KEY), so ``known.get(value) or number(...)`` is the quick way to look one up.
    ``known`` holds at most about ``kept`` of them, the latest.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        table: str,
        id_column: str,
        columns: tuple[str, ...],
        kept: int | None = None,
        nullable: tuple[str, ...] = (),
    ) -> None:
        """``nullable`` columns may hold NULL: the table's unique index holds them as ``ifnull(column, x'00')``."""
        names = ", ".join(columns)
        self._insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        self._select = f"SELECT {id_column} FROM {table} WHERE " + " AND ".join(
            f"ifnull({c}, x'00') = ifnull(?, x'00')" if c in nullable else f"{c} = ?" for c in columns
        )
        self._kept = kept = kept or KEPT
        latest = conn.execute(f"SELECT {id_column}, {names} FROM {table} ORDER BY {id_column} DESC LIMIT ?", (kept,))
        self.known: dict[Value, int] = {
            (row[1] if len(columns) == 1 else tuple(row[1:])): row[0] for row in reversed(latest.fetchall())
        }

    def number(self, conn: sqlite3.Connection, value: Value, new: dict[Value, int]) -> int:
        """``value``'s number, given in the open transaction if it has none (and kept in ``new`` for ``committed``)."""
        number = self.known.get(value) or new.get(value)
        if number is None:
            params = value if isinstance(value, tuple) else (value,)
            conn.execute(self._insert, params)  # OR IGNORE: another writer may have numbered it first
            number = new[value] = conn.execute(self._select, params).fetchone()[0]
        return number

    def ids(self, conn: sqlite3.Connection, values: Iterable[Value]) -> tuple[list[int], dict[Value, int]]:
        """Each value's number, numbering new ones in the open transaction; and those, for ``committed``."""
        known = self.known
        new: dict[Value, int] = {}
        return [known.get(v) or self.number(conn, v, new) for v in values], new

    def committed(self, new: dict[Value, int]) -> None:
        """The transaction that numbered ``new`` committed (a rolled-back one numbered nothing)."""
        known = self.known
        known.update(new)
        if len(known) > self._kept:  # forget the oldest quarter at once: one pass per many values
            for value in list(itertools.islice(known, len(known) - self._kept * 3 // 4)):
                del known[value]
