-- Telemetron's store: plain SQLite tables you can query with any client (sqlite3 var/telemetron.db).
-- Times are Unix nanoseconds; ids are lowercase hex; attributes, events and links are JSON with
-- OTLP's value types kept (ints stay ints, bytes as {"$bytes": base64}). A span's attributes, events,
-- links and scope attributes are compressed JSON (BLOB), TEXT when written by an older version, and
-- '' when empty (older rows: '{}', '[]'): read them with telemetron_json(column), NULL for an empty one
-- (store/span_documents.py).

PRAGMA journal_mode = WAL;

-- One row per distinct OTLP resource (the process that sent the data).
CREATE TABLE IF NOT EXISTS resources (
    resource_key TEXT PRIMARY KEY,
    service_name TEXT NOT NULL,
    attributes   TEXT NOT NULL
);

-- One row per span in span_rows; read them through the spans view below, which gives every column as
-- earlier versions' spans table held it. A row holds its ids as bytes (16 for the trace, 8 for a span),
-- its duration (end_ns = start_ns + duration_ns) and the number of its shape (span_shapes) and its source
-- (span_sources) in place of their strings: a GenAI span's row took ~370 bytes with hex ids and the strings,
-- ~150 this way (store/span_layout.py). A store written before is rebuilt into it once at startup (sqlite.py).
CREATE TABLE IF NOT EXISTS span_rows (
    trace            BLOB NOT NULL,           -- the trace id's 16 bytes
    span             BLOB NOT NULL,           -- the span id's 8 bytes
    parent           BLOB,                    -- the parent span id's 8 bytes; NULL for a root
    shape_id         INTEGER NOT NULL,        -- span_shapes: service, name, kind and the gen_ai.* names
    service_id       INTEGER NOT NULL,        -- span_services: the service's name (also in the shape), for the index below
    start_ns         INTEGER NOT NULL,
    duration_ns      INTEGER NOT NULL,
    status_code      INTEGER NOT NULL,        -- 0 unset, 1 ok, 2 error
    status_message   TEXT NOT NULL,
    input_tokens     INTEGER,
    output_tokens    INTEGER,
    conversation_id  TEXT,
    error_type       TEXT,
    attributes       BLOB NOT NULL,
    events           BLOB NOT NULL,
    links            BLOB NOT NULL,
    trace_state      TEXT NOT NULL,
    flags            INTEGER NOT NULL,
    dropped_counts   TEXT NOT NULL,           -- [attributes, events, links]; '' for none
    received_ns      INTEGER NOT NULL,
    scope_attributes BLOB NOT NULL,
    source_id        INTEGER NOT NULL,        -- span_sources: resource and instrumentation scope
    UNIQUE (trace, span)                      -- a span delivered twice is stored once
);
-- A service's spans by start: searches walk them newest first, time windows read them service by service.
CREATE INDEX IF NOT EXISTS span_rows_service_start ON span_rows (service_id, start_ns);

CREATE TABLE IF NOT EXISTS span_services (
    service_id   INTEGER PRIMARY KEY,
    service_name TEXT NOT NULL UNIQUE
);

-- What many spans repeat, numbered once: the service, span name and kind, and the normalized
-- gen_ai.operation.name, gen_ai.agent.name, gen_ai.provider.name and request and response models.
CREATE TABLE IF NOT EXISTS span_shapes (
    shape_id       INTEGER PRIMARY KEY,
    service_name   TEXT NOT NULL,
    name           TEXT NOT NULL,
    kind           INTEGER NOT NULL,          -- OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    operation      TEXT,
    agent_name     TEXT,
    provider       TEXT,
    request_model  TEXT,
    response_model TEXT
);
-- One row per distinct shape; a missing name is x'00' here, which no text equals.
CREATE UNIQUE INDEX IF NOT EXISTS span_shapes_key ON span_shapes (
    service_name, name, kind, ifnull(operation, x'00'), ifnull(agent_name, x'00'), ifnull(provider, x'00'),
    ifnull(request_model, x'00'), ifnull(response_model, x'00')
);

-- The zstd dictionaries span documents are compressed against, trained on the store's own spans
-- (store/dictionaries.py). A document names its dictionary after its format byte; a span uses the
-- dictionary with the greatest first_span at or below its rowid, current when it was written.
CREATE TABLE IF NOT EXISTS document_dictionaries (
    dictionary_id INTEGER PRIMARY KEY,     -- random, 32 bits
    first_span    INTEGER NOT NULL,        -- the rowid of the first span that may use it
    trained_ns    INTEGER NOT NULL,
    data          BLOB NOT NULL            -- the dictionary, as zstd writes it
);

-- The resource and instrumentation scope spans came from, numbered once (store/span_sources.py): a span
-- row holds the number instead of ~50 bytes of strings.
CREATE TABLE IF NOT EXISTS span_sources (
    source_id     INTEGER PRIMARY KEY,
    resource_key  TEXT NOT NULL,           -- resources(resource_key)
    scope_name    TEXT NOT NULL,
    scope_version TEXT NOT NULL,
    UNIQUE (resource_key, scope_name, scope_version)
);
-- Every span as a row of plain values, hex ids and names, as earlier versions' spans table held it: the
-- way to read spans with any SQLite client. Its trace, span and parent columns are the stored bytes, for
-- lookups by id that use span_rows' key (WHERE trace = x'...'). Not created while an older store's spans
-- table is still there: sqlite.py rebuilds that into span_rows, then creates this view.
CREATE VIEW IF NOT EXISTS spans AS
SELECT lower(hex(r.trace)) AS trace_id,
       lower(hex(r.span)) AS span_id,
       CASE WHEN r.parent IS NOT NULL THEN lower(hex(r.parent)) END AS parent_span_id,
       h.name,
       h.kind,
       h.service_name,
       r.start_ns,
       r.start_ns + r.duration_ns AS end_ns,
       r.duration_ns,
       r.status_code,
       r.status_message,
       h.operation,
       h.agent_name,
       h.provider,
       h.request_model,
       h.response_model,
       r.input_tokens,
       r.output_tokens,
       r.conversation_id,
       r.error_type,
       r.attributes,
       r.events,
       r.links,
       src.resource_key,
       src.scope_name,
       src.scope_version,
       r.trace_state,
       r.flags,
       r.dropped_counts,
       r.received_ns,
       r.scope_attributes,
       r.source_id,
       r.trace,
       r.span,
       r.parent,
       r.shape_id,
       r.service_id,
       r.rowid AS span_no
FROM span_rows r
JOIN span_shapes h ON h.shape_id = r.shape_id
JOIN span_sources src ON src.source_id = r.source_id;

-- The distinct (service, span name, kind) of the stored spans, upserted with each batch. last_ns is
-- the newest start among them: once every stored span starts later, none of them is left and
-- retention drops the row (store/retention.py).
CREATE TABLE IF NOT EXISTS operations (
    service_name TEXT NOT NULL,
    name         TEXT NOT NULL,
    kind         INTEGER NOT NULL,
    last_ns      INTEGER NOT NULL,
    PRIMARY KEY (service_name, name, kind)
) WITHOUT ROWID;

-- Search by attribute: which traces carry a short string attribute value on a span, its scope,
-- an event or a link, one row per distinct (key, value) in a trace (store/attribute_index.py says which
-- values and why numbers are left out). Other searches scan spans (store/search.py). Each key is
-- stored once, in attribute_keys, and a row holds its number, a 64-bit hash of the value (a search
-- checks the spans of the traces it names, so a collision costs a read, never a wrong answer) and the
-- trace's number (traces.trace_no, an integer of 1-4 bytes instead of the 16 of its id). Find a value's
-- traces with
--   SELECT t.trace_id FROM attribute_hashes a JOIN traces t USING (trace_no) WHERE a.key_id = ? AND a.value_hash = ?
-- Older stores' index (attribute_traces with the value's text, or attribute_hashes with the 16-byte
-- trace id) is rebuilt into it once at startup (store/sqlite.py, store/trace_numbers.py).
CREATE TABLE IF NOT EXISTS attribute_keys (
    key_id INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS attribute_hashes (
    key_id     INTEGER NOT NULL,
    value_hash INTEGER NOT NULL,           -- attribute_index.value_hash(value): BLAKE2b, 8 bytes, signed
    trace_no   INTEGER NOT NULL,           -- traces(trace_no)
    PRIMARY KEY (key_id, value_hash, trace_no)
) WITHOUT ROWID;

-- One row per trace, updated from the new spans of each batch (store/trace_summaries.py).
-- trace_no numbers the trace for the attribute index. AUTOINCREMENT: a number is never given again, even
-- after its trace is deleted (retention), so an index row left behind can only name no trace, never a
-- newer one; an upsert that updates a row uses up a number too, so the numbers have gaps.
-- Older stores' traces, keyed by trace_id alone, get the column once at startup (store/trace_numbers.py).
CREATE TABLE IF NOT EXISTS traces (
    trace_no     INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id     TEXT NOT NULL UNIQUE,
    start_ns     INTEGER NOT NULL,
    end_ns       INTEGER NOT NULL,
    span_count   INTEGER NOT NULL,
    error_count  INTEGER NOT NULL,
    root_name    TEXT,                     -- NULL while the root span has not arrived
    root_service TEXT,
    services     TEXT NOT NULL             -- JSON array of service names
);
-- Newest-first trace pages ordered by (start_ns, trace_id) without a sort; also the oldest start
-- of any stored span (store/retention.py). traces_start, on start_ns alone, repeated it.
CREATE INDEX IF NOT EXISTS traces_start_id ON traces (start_ns, trace_id);
DROP INDEX IF EXISTS traces_start;

-- Work in progress: spans that have started and not yet ended, from pending-span records.
-- A row is removed when the real span arrives.
CREATE TABLE IF NOT EXISTS active_spans (
    trace_id       TEXT NOT NULL,
    span_id        TEXT NOT NULL,
    parent_span_id TEXT,
    name           TEXT NOT NULL,
    kind           INTEGER NOT NULL,
    service_name   TEXT NOT NULL,
    operation      TEXT,
    agent_name     TEXT,
    start_ns       INTEGER NOT NULL,
    last_seen_ns   INTEGER NOT NULL,       -- the latest heartbeat
    attributes     TEXT NOT NULL,
    resource_key   TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE IF NOT EXISTS metric_points (
    resource_key TEXT NOT NULL,
    service_name TEXT NOT NULL,
    scope_name   TEXT NOT NULL,
    name         TEXT NOT NULL,
    unit         TEXT NOT NULL,
    kind         TEXT NOT NULL,            -- gauge | sum | histogram | exponential_histogram | summary
    time_ns      INTEGER NOT NULL,
    start_ns     INTEGER NOT NULL,
    attributes   TEXT NOT NULL,
    value        REAL,
    data         TEXT NOT NULL,
    received_ns  INTEGER NOT NULL DEFAULT 0 -- arrival: retention's age (store/retention.py)
);
CREATE INDEX IF NOT EXISTS metric_points_name_time ON metric_points (name, time_ns);

CREATE TABLE IF NOT EXISTS log_records (
    resource_key    TEXT NOT NULL,
    service_name    TEXT NOT NULL,
    scope_name      TEXT NOT NULL,
    time_ns         INTEGER NOT NULL,      -- the record's time, else (0 sent) its observed time
    observed_ns     INTEGER NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text   TEXT NOT NULL,
    body            TEXT NOT NULL,
    attributes      TEXT NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    event_name      TEXT NOT NULL,
    body_type       TEXT,                  -- string (body is the text itself) or json; NULL in older rows means json
    received_ns     INTEGER NOT NULL DEFAULT 0  -- arrival time, the age retention goes by (store/retention.py)
);
CREATE INDEX IF NOT EXISTS log_records_trace ON log_records (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS log_records_time ON log_records (time_ns);
