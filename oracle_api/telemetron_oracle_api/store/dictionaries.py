"""Span documents compressed against a dictionary trained on the store's own spans.

A 20-attribute GenAI span's attributes are ~700 bytes of JSON; against the preset dictionary
(span_documents.py) they compress to ~127, against one zstd trains on the store's first few thousand
documents to ~37, and faster. The writer compresses with the preset until it has seen
``FIRST_TRAINING`` documents, then trains a dictionary, stores it in ``document_dictionaries`` in the
transaction whose spans first use it, and uses it from then on. When the documents change (new
services, new attributes) and compress a quarter worse than just after training, it trains again on
the latest ones. Samples leave out message contents (``CONTENT_KEYS``), so no prompt outlives its span
in a dictionary; retention deletes a dictionary once no stored span can use it (``delete_unused``).

A document names its dictionary by a random 32-bit id (4 bytes after its format byte): readers in
any process find it by that id (span_documents.add_dictionary).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections import deque

import orjson
import zstandard

from . import span_documents

log = logging.getLogger(__name__)

FIRST_TRAINING = 2_000  # documents before the first dictionary
SAMPLES = 2_000  # the latest documents a dictionary is trained on
SAMPLES_PER_BATCH = 128  # spread over batches, so one burst of one kind does not fill them
MAX_SAMPLE_BYTES = 16 * 1024
DICTIONARY_BYTES = 32 * 1024
WINDOW = 20_000  # documents per measure of how well the dictionary compresses
WORSE = 1.25  # retrain once a window compresses this much worse than the first after training
# Message contents and tool schemas: a sample holding one is left out.
CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)

_INSERT = "INSERT INTO document_dictionaries (dictionary_id, first_span, trained_ns, data) VALUES (?, ?, ?, ?)"
_LATEST = "SELECT dictionary_id, data FROM document_dictionaries ORDER BY first_span DESC, trained_ns DESC LIMIT 1"
# A dictionary no stored span can use: a later one took over at or before the oldest span still stored
# (spans are numbered by rowid in the order written, and each uses the dictionary current when it was).
_DELETE_UNUSED = """
DELETE FROM document_dictionaries AS d WHERE EXISTS (
    SELECT 1 FROM document_dictionaries n
    WHERE (n.first_span, n.trained_ns) > (d.first_span, d.trained_ns)
      AND n.first_span <= coalesce((SELECT min(rowid) FROM span_rows), n.first_span)
)
"""


class _Ratio:
    """Compressed over raw bytes across a window of documents."""

    def __init__(self) -> None:
        self.raw = self.stored = self.documents = 0

    def add(self, texts: list[bytes | bytearray | memoryview], stored: list[bytes]) -> None:
        self.raw += sum(map(len, texts))
        self.stored += sum(map(len, stored))
        self.documents += len(texts)

    @property
    def value(self) -> float:
        return self.stored / self.raw if self.raw else 1.0


class StoreDocuments:
    """The writer's encoder of span documents for one store: the preset until the first training, then
    the store's latest dictionary. Used on the writer thread only."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._encoder = span_documents.preset_encoder()
        self._trained = False
        latest = conn.execute(_LATEST).fetchone()
        if latest is not None:
            self._encoder = span_documents.trained_encoder(latest[0], span_documents.add_dictionary(*latest))
            self._trained = True
        # The latest documents, kept only while a training is ahead (``_collecting``).
        self._samples: deque[bytes | bytearray | memoryview] = deque(maxlen=SAMPLES)
        self._seen = 0  # documents since the last training (or since open)
        self._baseline: float | None = None  # the first window's ratio after training
        self._window = _Ratio()
        self._previous: tuple | None = None  # the state before a training, until its transaction commits

    @property
    def trained(self) -> bool:
        return self._trained

    def encode(self, document: object) -> bytes:
        """The stored form of one non-empty document (events, links, scope attributes)."""
        return self._encoder.encode(document)

    def encode_many(self, conn: sqlite3.Connection, documents: list, empty: str, first_span: int) -> list[bytes | str]:
        """The stored form of each of a batch's documents (``empty`` for an empty one), in ``conn``'s open
        transaction, whose spans are numbered from ``first_span``: a dictionary trained now is stored in it."""
        if self._previous is not None:  # the transaction that trained the current one rolled back
            self._encoder, self._trained, self._seen, self._baseline, self._window = self._previous
            self._previous = None
        texts: list[bytes | bytearray | memoryview] = [orjson.dumps(d) for d in documents if d]
        if not texts:
            return [empty] * len(documents)
        self._sample(documents, texts)
        if self._due():
            self._train(conn, first_span)
        stored = self._encoder.encode_texts(texts)
        self._measure(texts, stored)
        out = iter(stored)
        return [next(out) if d else empty for d in documents]

    def committed(self) -> None:
        """The transaction of the last ``encode_many`` committed: a dictionary it trained is the store's."""
        if self._previous is not None:
            self._samples.clear()  # until the documents drift away from it
        self._previous = None

    def _collecting(self) -> bool:
        """Whether samples are wanted: before the first training, and once a window compresses worse."""
        if not self._trained:
            return True
        return (
            self._baseline is not None
            and self._window.documents >= WINDOW
            and self._window.value > self._baseline * WORSE
        )

    def _sample(self, documents: list, texts: list[bytes | bytearray | memoryview]) -> None:
        self._seen += len(texts)
        if not self._collecting():
            return
        step = max(1, len(texts) // SAMPLES_PER_BATCH)
        full = [d for d in documents if d]
        for i in range(0, len(texts), step):
            text = texts[i]
            if len(text) <= MAX_SAMPLE_BYTES and CONTENT_KEYS.isdisjoint(full[i]):
                self._samples.append(text)

    def _due(self) -> bool:
        if not self._trained:
            return self._seen >= FIRST_TRAINING and len(self._samples) >= SAMPLES // 4
        return self._collecting() and len(self._samples) >= SAMPLES // 4

    def _measure(self, texts: list[bytes | bytearray | memoryview], stored: list[bytes]) -> None:
        if not self._trained:
            return
        self._window.add(texts, stored)
        if self._window.documents < WINDOW:
            return
        if self._baseline is None:
            self._baseline = self._window.value
            self._window = _Ratio()
        elif self._window.value <= self._baseline * WORSE:
            self._window = _Ratio()
        # else the window stays full and worse: the next batch trains again

    def _train(self, conn: sqlite3.Connection, first_span: int) -> None:
        samples = list(self._samples)
        size = min(DICTIONARY_BYTES, max(1024, sum(map(len, samples)) // 10))
        dictionary_id = _new_id()
        started = time.perf_counter()
        try:
            dictionary = zstandard.train_dictionary(
                size, samples, dict_id=dictionary_id, level=span_documents.TRAINED_LEVEL
            )
        except zstandard.ZstdError as exc:  # too few distinct samples: go on with the current one
            log.info("span document dictionary not trained (%s); trying again later", exc)
            self._seen, self._window = 0, _Ratio()
            return
        data = dictionary.as_bytes()
        conn.execute(_INSERT, (dictionary_id, first_span, time.time_ns(), data))
        self._previous = (self._encoder, self._trained, self._seen, self._baseline, self._window)
        self._encoder = span_documents.trained_encoder(
            dictionary_id, span_documents.add_dictionary(dictionary_id, data)
        )
        self._trained = True
        self._seen, self._baseline, self._window = 0, None, _Ratio()
        log.info(
            "span document dictionary %d trained on %d documents in %.0f ms",
            dictionary_id,
            len(samples),
            (time.perf_counter() - started) * 1000,
        )


def _new_id() -> int:
    """A dictionary id no dictionary in this process has (zstd reserves 0 and ids below 32768)."""
    while True:
        dictionary_id = random.randrange(1 << 15, 1 << 31)
        if not span_documents.is_known(dictionary_id):
            return dictionary_id


def delete_unused(conn: sqlite3.Connection) -> int:
    """Delete the dictionaries no stored span was compressed against; how many."""
    return conn.execute(_DELETE_UNUSED).rowcount
