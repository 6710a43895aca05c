"""How a span's attributes, events, links and scope attributes are stored: compressed JSON in a BLOB.

A value is a BLOB for a row written by this version: one format byte, then the compact JSON text
(as ``orjson`` writes it) compressed with zstd. Format 3 compresses against a dictionary trained on the
store's own documents (``dictionaries.py``), named by the 4 bytes after the format byte; format 2, what a
store writes until it has enough documents to train one, against a preset dictionary of the keys and
values GenAI and OpenTelemetry spans repeat, so that a short document still compresses well. Format
1, raw DEFLATE against the same dictionary, is what earlier versions wrote: on a 20-attribute GenAI
span it was a fifth smaller than zstd's output but took three times the writer's time (104 against
127 B; 12.6 against 3.7 µs), the largest share of a span's write. It is TEXT (the JSON itself) in rows
written before either. An empty document (and zero dropped counts) is stored as nothing, '', and was its
JSON (``{}``, ``[]``, ``[0,0,0]``) in rows written before: ``or_empty``, ``none_if_empty`` and ``not_empty``
give SQL that takes both. ``decode`` reads every form; SQL reads them through ``telemetron_json(column)``
(NULL for an empty one), registered on every connection by ``sqlite_reads.connect``. Run this module to query a store with that function
(``python -m telemetron_oracle_api.store.span_documents FILE SQL``).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import zlib
from contextlib import closing

import orjson
import zstandard

from . import span_layout

SQL_FUNCTION = "telemetron_json"

log = logging.getLogger(__name__)

# Kept in the first byte of each BLOB: a later format or dictionary gets a new number, old rows stay readable.
_DEFLATE_FORMAT = 1
_ZSTD_FORMAT = 2
TRAINED_FORMAT = 3
_WBITS = -15  # format 1, raw DEFLATE: no header or checksum, a 32 KiB window
_ZSTD_LEVEL = 4
# A trained dictionary already holds what the documents repeat: level 3 compresses as well as 4, faster.
TRAINED_LEVEL = 3

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


_DICTIONARY = zstandard.ZstdCompressionDict(_ZDICT, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_DICTIONARY.precompute_compress(level=_ZSTD_LEVEL)
# No magic number, checksum or dictionary id: the format byte says what follows.
_ZSTD_PARAMETERS = zstandard.ZstdCompressionParameters.from_level(
    _ZSTD_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False, write_dict_id=False
)
_ZSTD_HEADER = bytes((_ZSTD_FORMAT,))
# zstd's compressor and decompressor objects are not for sharing between threads: one each per thread.
_per_thread = threading.local()


def _trained_decompressor(dictionary_id: int) -> zstandard.ZstdDecompressor:
    decompressors = getattr(_per_thread, "trained", None)
    if decompressors is None:
        decompressors = _per_thread.trained = {}
    decompressor = decompressors.get(dictionary_id)
    if decompressor is None:
        dictionary = _trained.get(dictionary_id) or _look_up(dictionary_id)
        decompressor = decompressors[dictionary_id] = zstandard.ZstdDecompressor(
            dict_data=dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS
        )
    return decompressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor = getattr(_per_thread, "decompressor", None)
    if decompressor is None:
        decompressor = _per_thread.decompressor = zstandard.ZstdDecompressor(
            dict_data=_DICTIONARY, format=zstandard.FORMAT_ZSTD1_MAGICLESS
        )
    return decompressor


# Trained dictionaries by id, from every store this process opened: a document names its dictionary, not
# its store. Ids are random 32-bit numbers, chosen not to repeat one already here (dictionaries.py).
_trained: dict[int, zstandard.ZstdCompressionDict] = {}
# The store files opened here, newest last, where a dictionary trained after a reader opened is looked up.
_store_files: dict[str, None] = {}
_MAX_STORE_FILES = 64
_DICTIONARIES = "SELECT dictionary_id, data FROM document_dictionaries"


def add_dictionary(dictionary_id: int, data: bytes) -> zstandard.ZstdCompressionDict:
    """Make documents compressed against ``data`` readable in this process; the dictionary, for compressing."""
    known = _trained.get(dictionary_id)
    if known is not None:
        if known.as_bytes() != data:
            log.error("two span document dictionaries share the id %d; the newer one is ignored", dictionary_id)
        return known
    dictionary = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
    _trained[dictionary_id] = dictionary
    return dictionary


def is_known(dictionary_id: int) -> bool:
    return dictionary_id in _trained


def load_dictionaries(conn: sqlite3.Connection) -> None:
    """Add the dictionaries of the store ``conn`` is open on (none before its schema exists)."""
    try:
        rows = conn.execute(_DICTIONARIES).fetchall()
    except sqlite3.OperationalError:  # no such table: a new store, or one written before dictionaries
        return
    for dictionary_id, data in rows:
        add_dictionary(dictionary_id, data)


def _look_up(dictionary_id: int) -> zstandard.ZstdCompressionDict:
    """A dictionary trained after the stores were opened here: read it from their files."""
    for path in reversed(list(_store_files)):
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                row = conn.execute(_DICTIONARIES + " WHERE dictionary_id = ?", (dictionary_id,)).fetchone()
        except sqlite3.Error:
            continue
        if row is not None:
            return add_dictionary(row[0], row[1])
    raise ValueError(f"span document compressed against dictionary {dictionary_id}, which no open store holds")


class Encoder:
    """Compresses documents against one dictionary into their stored form. zstd's compressors are not for
    sharing between threads: an encoder belongs to one thread."""

    def __init__(self, header: bytes, compressor: zstandard.ZstdCompressor) -> None:
        self._header = header
        self._compressor = compressor

    def encode(self, document: object) -> bytes:
        """The stored form of a non-empty document (a dict of attributes, a list of events or links)."""
        return self._header + self._compressor.compress(orjson.dumps(document))

    def encode_texts(self, texts: list[bytes | bytearray | memoryview]) -> list[bytes]:
        """The stored forms of JSON texts, compressed in one call.

        zstd lets go of the GIL for each compression; the writer then waited for a thread decoding the
        next requests to hand it back, up to Python's switch interval, once per span. One call for the
        whole batch waits once, and its frames are the same bytes ``encode`` gives.
        """
        header = self._header
        frames = self._compressor.multi_compress_to_buffer(texts)
        return [header + frames[i].tobytes() for i in range(len(frames))]

    def encode_many(self, documents: list, empty: str) -> list[bytes | str]:
        """``encode`` of each non-empty document, ``empty`` for the others, compressed in one call."""
        full: list[bytes | bytearray | memoryview] = [orjson.dumps(d) for d in documents if d]
        if not full:
            return [empty] * len(documents)
        stored = iter(self.encode_texts(full))
        return [next(stored) if d else empty for d in documents]


def trained_encoder(dictionary_id: int, dictionary: zstandard.ZstdCompressionDict) -> Encoder:
    """An encoder against a trained dictionary (``add_dictionary``'s), for the calling thread."""
    parameters = zstandard.ZstdCompressionParameters.from_level(
        TRAINED_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False, write_dict_id=False
    )
    dictionary.precompute_compress(compression_params=parameters)
    header = bytes((TRAINED_FORMAT,)) + dictionary_id.to_bytes(4, "big")
    return Encoder(header, zstandard.ZstdCompressor(dict_data=dictionary, compression_params=parameters))


def preset_encoder() -> Encoder:
    """A new encoder against the preset dictionary, for one thread."""
    return Encoder(_ZSTD_HEADER, zstandard.ZstdCompressor(dict_data=_DICTIONARY, compression_params=_ZSTD_PARAMETERS))


def _preset_encoder() -> Encoder:
    encoder = getattr(_per_thread, "encoder", None)
    if encoder is None:
        encoder = _per_thread.encoder = preset_encoder()
    return encoder


def encode(document: object) -> bytes:
    """The stored form of a non-empty document, against the preset dictionary."""
    return _preset_encoder().encode(document)


def encode_many(documents: list, empty: str) -> list[bytes | str]:
    """``encode`` of each non-empty document, ``empty`` for the others, compressed in one call."""
    return _preset_encoder().encode_many(documents, empty)


def json_bytes(stored: bytes | str) -> bytes:
    """The document's JSON text as UTF-8, from any stored form."""
    if not isinstance(stored, bytes):
        return stored.encode()
    body = memoryview(stored)[1:]
    if stored[0] == TRAINED_FORMAT:
        return _trained_decompressor(int.from_bytes(body[:4], "big")).decompress(body[4:])
    if stored[0] == _ZSTD_FORMAT:
        return _decompressor().decompress(body)
    if stored[0] == _DEFLATE_FORMAT:
        return zlib.decompressobj(_WBITS, zdict=_ZDICT).decompress(body)
    raise ValueError(f"unknown span document format {stored[:1]!r}")


def json_text(stored: bytes | str | None) -> str | None:
    """The document's JSON text, from either stored form; None for NULL and '' (empty: SQL's json_each finds nothing)."""
    if not stored:
        return None
    return stored if isinstance(stored, str) else json_bytes(stored).decode()


def decode(stored: bytes | str | None) -> object:
    """The document as decoded from OTLP (None for NULL), from either stored form."""
    return None if stored is None else orjson.loads(json_bytes(stored) if isinstance(stored, bytes) else stored)


def register(conn: sqlite3.Connection) -> None:
    """Let SQL on ``conn`` read a stored document as JSON text (``telemetron_json(attributes)``), and this
    process read the documents of its store."""
    conn.create_function(SQL_FUNCTION, 1, json_text, deterministic=True)
    path = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    if path:
        _store_files.pop(path, None)
        _store_files[path] = None
        while len(_store_files) > _MAX_STORE_FILES:
            del _store_files[next(iter(_store_files))]
    load_dictionaries(conn)


def sql(column: str) -> str:
    """SQL giving the JSON text of a stored document column."""
    return f"{SQL_FUNCTION}({column})"


# The JSON of each column's empty document, as rows written before empty ones were stored as ''.
EMPTY = {"attributes": "{}", "events": "[]", "links": "[]", "scope_attributes": "{}", "dropped_counts": "[0,0,0]"}


def _empty(column: str) -> str:
    return EMPTY[column.rpartition(".")[2]]


def or_empty(column: str) -> str:
    """SQL giving the stored document in ``column`` (``s.events``), its empty JSON for one stored as ''."""
    return f"iif({column} = '', '{_empty(column)}', {column})"


def none_if_empty(column: str) -> str:
    """SQL giving the stored document in ``column``, NULL when it is empty in either form."""
    return f"NULLIF(NULLIF({column}, ''), '{_empty(column)}')"


def not_empty(column: str) -> str:
    """SQL true when the document in ``column`` is not empty, in either form."""
    return f"{column} NOT IN ('', '{_empty(column)}')"


def main(argv: list[str]) -> int:
    """Print the rows of one SQL statement over a store, tab-separated, with ``telemetron_json`` available."""
    if len(argv) != 2:
        print("usage: python -m telemetron_oracle_api.store.span_documents STORE_FILE SQL", file=sys.stderr)
        return 2
    conn = sqlite3.connect(f"file:{argv[0]}?mode=ro", uri=True)
    register(conn)
    span_layout.register(conn)  # WHERE trace = telemetron_id('...')
    for row in conn.execute(argv[1]):
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
