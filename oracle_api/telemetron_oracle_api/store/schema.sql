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

-- One row per span; the fields the product filters on are promoted to columns.
CREATE TABLE IF NOT EXISTS spans (
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    parent_span_id  TEXT,
    name            TEXT NOT NULL,
    kind            INTEGER NOT NULL,      -- OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    service_name    TEXT NOT NULL,
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER NOT NULL,
    duration_ns     INTEGER NOT NULL,
    status_code     INTEGER NOT NULL,      -- 0 unset, 1 ok, 2 error
    status_message  TEXT NOT NULL,
    operation       TEXT,                  -- gen_ai.operation.name (normalized)
    agent_name      TEXT,
    provider        TEXT,                  -- gen_ai.provider.name (normalized)
    request_model   TEXT,
    response_model  TEXT,
    input_tokens    INTEGER,
    output_tokens   INTEGER,
    conversation_id TEXT,
    error_type      TEXT,
    attributes      TEXT NOT NULL,
    events          TEXT NOT NULL,
    links           TEXT NOT NULL,
    resource_key    TEXT NOT NULL,         -- these three are '' when source_id is set (span_sources below)
    scope_name      TEXT NOT NULL,
    scope_version   TEXT NOT NULL,
    trace_state     TEXT NOT NULL,
    flags           INTEGER NOT NULL,
    dropped_counts  TEXT NOT NULL,         -- [attributes, events, links]; '' for none (older rows: [0,0,0])
    received_ns     INTEGER NOT NULL,
    -- The instrumentation scope's attributes (JSON, like attributes). Last, because a store made
    -- before it existed gets it by ALTER TABLE ... ADD COLUMN (store/sqlite.py), which appends.
    scope_attributes TEXT NOT NULL DEFAULT '{}',
    source_id       INTEGER,               -- span_sources; NULL in rows written before it (added the same way)
    UNIQUE (trace_id, span_id)             -- a span delivered twice is stored once
);

-- The resource and instrumentation scope spans came from, numbered once (store/span_sources.py): a span
-- row holds the number instead of ~50 bytes of strings. Read a span's with
--   SELECT coalesce(src.scope_name, s.scope_name) FROM spans s LEFT JOIN span_sources src USING (source_id)
CREATE TABLE IF NOT EXISTS span_sources (
    source_id     INTEGER PRIMARY KEY,
    resource_key  TEXT NOT NULL,           -- resources(resource_key)
    scope_name    TEXT NOT NULL,
    scope_version TEXT NOT NULL,
    UNIQUE (resource_key, scope_name, scope_version)
);
CREATE INDEX IF NOT EXISTS spans_service_start ON spans (service_name, start_ns);
-- Agent and model filters look at the spans of each trace they walk, by trace id: an index by agent
-- or model led SQLite to scan all of that agent's spans for every trace instead. Older stores lose theirs.
DROP INDEX IF EXISTS spans_agent;
DROP INDEX IF EXISTS spans_model;
-- The conversation filter reads the traces the attribute index names for the conversation id (store/search.py),
-- and time windows (metrics, dependencies, LLM usage) read spans_service_start one service at a time
-- (store/reads.py): an index by conversation cost 25 bytes a span, one by start 19. Older stores lose theirs.
DROP INDEX IF EXISTS spans_conversation;
DROP INDEX IF EXISTS spans_start;
-- The operation list (Jaeger's operation picker) reads the operations table: an index of every
-- span by service, name and kind cost 45 bytes a span for a list of a few dozen rows.
DROP INDEX IF EXISTS spans_service_operation;

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
