"""How a span's attributes, events, links and scope attributes are stored: compressed JSON in a BLOB.

A value is a BLOB for a row written by this version: one format byte, then the compact JSON text
(as ``orjson`` writes it) compressed with raw DEFLATE against a preset dictionary of the keys and
values GenAI and OpenTelemetry spans repeat, so that a short document still compresses well. It is
TEXT (the JSON itself) in rows written before, and for an empty document (``{}``, ``[]``), which SQL
tests for. ``decode`` reads both forms; SQL reads them through ``telemetron_json(column)``,
registered on every connection by ``sqlite_reads.connect``. Run this module to query a store with
that function (``python -m telemetron_oracle_api.store.span_documents FILE SQL``).
"""

from __future__ import annotations

import sqlite3
import sys
import zlib

import orjson

SQL_FUNCTION = "telemetron_json"

# Kept in the first byte of each BLOB: a later dictionary gets a new number, old rows stay readable.
_FORMAT_BYTE = bytes((1,))
_WBITS = -15  # raw DEFLATE: no header or checksum, a 32 KiB window
_MEMORY_LEVEL = 4  # the compressor's tables: a document is short, and setting up the default's took 4x longer

# DEFLATE refers back to the preset dictionary as if it preceded the document; the nearest strings
# cost the fewest bits, so the most common ones come last.
_ZDICT = "".join(
    (
        '"exception.type":"","exception.message":"","exception.stacktrace":"',
        '"messaging.system":"kafka","messaging.operation.type":"process","messaging.destination.name":"',
        '"http.request.method":"POST","http.response.status_code":200,"url.full":"https://',
        '"error.type":"","rpc.system":"grpc","db.system.name":"',
        '"telemetron.task.id":"","telemetron.task.priority":"","telemetron.task.submitted_by":"',
        '"telemetron.task.processed_by":"","telemetron.task.blocked_by":"","telemetron.handoff.reason":"',
        '"telemetron.agent.models":"","telemetron.agent.max_parallel_invocations":',
        '"gen_ai.agent.handoff.source.name":"","gen_ai.agent.handoff.target.name":"',
        '"gen_ai.tool.name":"","gen_ai.tool.call.id":"call_","gen_ai.tool.type":"function",',
        '"gen_ai.request.top_p":1.0,"gen_ai.request.seed":"gen_ai.output.type":"text",',
        '"gen_ai.agent.id":"","gen_ai.agent.description":"","gen_ai.system":"openai",',
        '"telemetron.llm.usage.estimated":false,"telemetron.llm.ratelimit.requests.reset":"',
        '"telemetron.llm.ratelimit.tokens.reset":"',
        '{"gen_ai.operation.name":"chat","gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o",',
        '"gen_ai.response.model":"gpt-4o-mini-2024-07-18","gen_ai.request.temperature":0.',
        '"gen_ai.request.max_tokens":","gen_ai.response.id":"chatcmpl-',
        '"gen_ai.response.finish_reasons":["stop"],"gen_ai.usage.input_tokens":',
        '"gen_ai.usage.output_tokens":","gen_ai.agent.name":"","gen_ai.conversation.id":"conv-',
        '"server.address":"api.openai.com","server.port":443,"telemetron.llm.cost.usd":0.00',
        '"telemetron.llm.ratelimit.requests.limit":","telemetron.llm.ratelimit.requests.remaining":',
        '"telemetron.llm.ratelimit.tokens.limit":","telemetron.llm.ratelimit.tokens.remaining":',
    )
).encode()


def encode(document: object) -> bytes:
    """The stored form of a non-empty document (a dict of attributes, a list of events or links)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, _WBITS, _MEMORY_LEVEL, zdict=_ZDICT)
    return _FORMAT_BYTE + packer.compress(orjson.dumps(document)) + packer.flush()


def json_bytes(stored: bytes | str) -> bytes:
    """The document's JSON text as UTF-8, from either stored form."""
    if not isinstance(stored, bytes):
        return stored.encode()
    if stored[:1] != _FORMAT_BYTE:
        raise ValueError(f"unknown span document format {stored[:1]!r}")
    return zlib.decompressobj(_WBITS, zdict=_ZDICT).decompress(memoryview(stored)[1:])


def json_text(stored: bytes | str | None) -> str | None:
    """The document's JSON text (None for NULL), from either stored form."""
    return stored if stored is None or isinstance(stored, str) else json_bytes(stored).decode()


def decode(stored: bytes | str | None) -> object:
    """The document as decoded from OTLP (None for NULL), from either stored form."""
    return None if stored is None else orjson.loads(json_bytes(stored) if isinstance(stored, bytes) else stored)


def register(conn: sqlite3.Connection) -> None:
    """Let SQL on ``conn`` read a stored document as JSON text: ``telemetron_json(attributes)``."""
    conn.create_function(SQL_FUNCTION, 1, json_text, deterministic=True)


def sql(column: str) -> str:
    """SQL giving the JSON text of a stored document column."""
    return f"{SQL_FUNCTION}({column})"


def main(argv: list[str]) -> int:
    """Print the rows of one SQL statement over a store, tab-separated, with ``telemetron_json`` available."""
    if len(argv) != 2:
        print("usage: python -m telemetron_oracle_api.store.span_documents STORE_FILE SQL", file=sys.stderr)
        return 2
    conn = sqlite3.connect(f"file:{argv[0]}?mode=ro", uri=True)
    register(conn)
    for row in conn.execute(argv[1]):
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
