"""Attribute names: the OpenTelemetry GenAI, HTTP and messaging conventions we follow, and our own.

The agent side writes these and the oracle_api side reads them, so both import them from here: the
agent side as ``telemetron_instrumentation.semconv``, the same module, and oracle_api directly, so
that its decoder and writer processes load the names without the agent side's SDK (~4 MiB each).
Convention names come from ``opentelemetry-semantic-conventions`` (0.63b0 and later define every
one used here); only the open proposals and Telemetron's own ``telemetron.*`` names are spelled out
(``PROPOSED_NAMES`` lists the proposals). GenAI conventions are "development" status upstream; the
receiver also accepts deprecated and foreign spellings (``oracle_api``'s ``receiver/normalize.py``).
"""

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.attributes import k8s_attributes as _k8s
from opentelemetry.semconv._incubating.attributes import messaging_attributes as _messaging
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes as _error
from opentelemetry.semconv.attributes import http_attributes as _http
from opentelemetry.semconv.attributes import server_attributes as _server
from opentelemetry.semconv.attributes import service_attributes as _service

# --- OpenTelemetry GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME = _gen_ai.GEN_AI_OPERATION_NAME
GEN_AI_PROVIDER_NAME = _gen_ai.GEN_AI_PROVIDER_NAME
GEN_AI_SYSTEM_DEPRECATED = _gen_ai.GEN_AI_SYSTEM
GEN_AI_REQUEST_MODEL = _gen_ai.GEN_AI_REQUEST_MODEL
GEN_AI_REQUEST_MAX_TOKENS = _gen_ai.GEN_AI_REQUEST_MAX_TOKENS
GEN_AI_REQUEST_TEMPERATURE = _gen_ai.GEN_AI_REQUEST_TEMPERATURE
GEN_AI_REQUEST_TOP_P = _gen_ai.GEN_AI_REQUEST_TOP_P
GEN_AI_REQUEST_TOP_K = _gen_ai.GEN_AI_REQUEST_TOP_K
GEN_AI_REQUEST_STOP_SEQUENCES = _gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES
GEN_AI_REQUEST_FREQUENCY_PENALTY = _gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY
GEN_AI_REQUEST_PRESENCE_PENALTY = _gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY
GEN_AI_REQUEST_SEED = _gen_ai.GEN_AI_REQUEST_SEED
GEN_AI_REQUEST_CHOICE_COUNT = _gen_ai.GEN_AI_REQUEST_CHOICE_COUNT
GEN_AI_REQUEST_ENCODING_FORMATS = _gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS
GEN_AI_REQUEST_STREAM = _gen_ai.GEN_AI_REQUEST_STREAM
GEN_AI_RESPONSE_ID = _gen_ai.GEN_AI_RESPONSE_ID
GEN_AI_RESPONSE_MODEL = _gen_ai.GEN_AI_RESPONSE_MODEL
GEN_AI_RESPONSE_FINISH_REASONS = _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = _gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK  # seconds
GEN_AI_USAGE_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS = _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = _gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
GEN_AI_OUTPUT_TYPE = _gen_ai.GEN_AI_OUTPUT_TYPE
GEN_AI_CONVERSATION_ID = _gen_ai.GEN_AI_CONVERSATION_ID
GEN_AI_INPUT_MESSAGES = _gen_ai.GEN_AI_INPUT_MESSAGES
GEN_AI_OUTPUT_MESSAGES = _gen_ai.GEN_AI_OUTPUT_MESSAGES
GEN_AI_SYSTEM_INSTRUCTIONS = _gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS
GEN_AI_TOOL_DEFINITIONS = _gen_ai.GEN_AI_TOOL_DEFINITIONS
GEN_AI_AGENT_ID = _gen_ai.GEN_AI_AGENT_ID
GEN_AI_AGENT_NAME = _gen_ai.GEN_AI_AGENT_NAME
GEN_AI_AGENT_DESCRIPTION = _gen_ai.GEN_AI_AGENT_DESCRIPTION
GEN_AI_AGENT_VERSION = _gen_ai.GEN_AI_AGENT_VERSION
GEN_AI_TOOL_NAME = _gen_ai.GEN_AI_TOOL_NAME
GEN_AI_TOOL_CALL_ID = _gen_ai.GEN_AI_TOOL_CALL_ID
GEN_AI_TOOL_TYPE = _gen_ai.GEN_AI_TOOL_TYPE
GEN_AI_TOOL_DESCRIPTION = _gen_ai.GEN_AI_TOOL_DESCRIPTION
GEN_AI_WORKFLOW_NAME = _gen_ai.GEN_AI_WORKFLOW_NAME
GEN_AI_TOKEN_TYPE = _gen_ai.GEN_AI_TOKEN_TYPE
# Open proposal (not merged): a handoff is an ``execute_tool transfer_to_<agent>`` span.
GEN_AI_HANDOFF_SOURCE = "gen_ai.agent.handoff.source.name"
GEN_AI_HANDOFF_TARGET = "gen_ai.agent.handoff.target.name"
# gen_ai.* names we emit that no released convention defines yet (kept while their proposal is open).
PROPOSED_NAMES = frozenset((GEN_AI_HANDOFF_SOURCE, GEN_AI_HANDOFF_TARGET))

# gen_ai.operation.name values
OP_CHAT = _gen_ai.GenAiOperationNameValues.CHAT.value
OP_TEXT_COMPLETION = _gen_ai.GenAiOperationNameValues.TEXT_COMPLETION.value
OP_EMBEDDINGS = _gen_ai.GenAiOperationNameValues.EMBEDDINGS.value
OP_GENERATE_CONTENT = _gen_ai.GenAiOperationNameValues.GENERATE_CONTENT.value
OP_INVOKE_AGENT = _gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value
OP_CREATE_AGENT = _gen_ai.GenAiOperationNameValues.CREATE_AGENT.value
OP_EXECUTE_TOOL = _gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value
OP_INVOKE_WORKFLOW = "invoke_workflow"
OUTPUT_TYPE_JSON = _gen_ai.GenAiOutputTypeValues.JSON.value

# GenAI client metrics
METRIC_TOKEN_USAGE = _gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE
METRIC_OPERATION_DURATION = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION
METRIC_TIME_TO_FIRST_CHUNK = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK

# --- General conventions ----------------------------------------------------------------------
ERROR_TYPE = _error.ERROR_TYPE
SERVER_ADDRESS = _server.SERVER_ADDRESS
SERVER_PORT = _server.SERVER_PORT
SERVICE_NAME = _service.SERVICE_NAME
HTTP_RESPONSE_STATUS_CODE = _http.HTTP_RESPONSE_STATUS_CODE
K8S_DEPLOYMENT_NAME = _k8s.K8S_DEPLOYMENT_NAME
K8S_POD_NAME = _k8s.K8S_POD_NAME
K8S_NAMESPACE_NAME = _k8s.K8S_NAMESPACE_NAME
K8S_CLUSTER_NAME = _k8s.K8S_CLUSTER_NAME

# --- Messaging conventions (task queues) ------------------------------------------------------
MESSAGING_SYSTEM = _messaging.MESSAGING_SYSTEM
MESSAGING_OPERATION_TYPE = _messaging.MESSAGING_OPERATION_TYPE  # "send" | "receive" | "process"
MESSAGING_OPERATION_NAME = _messaging.MESSAGING_OPERATION_NAME
MESSAGING_DESTINATION_NAME = _messaging.MESSAGING_DESTINATION_NAME
MESSAGING_MESSAGE_ID = _messaging.MESSAGING_MESSAGE_ID

# --- Telemetron's own namespace ---------------------------------------------------------------
# Agent declarations, read by the Oracle.
AGENT_MAX_PARALLEL = "telemetron.agent.max_parallel_invocations"
AGENT_MODELS = "telemetron.agent.models"
AGENT_DEPLOYMENT = "telemetron.agent.deployment"

# Tasks (queue items and agent work); priority is one of PRIORITY_LEVELS.
TASK_ID = "telemetron.task.id"
TASK_PRIORITY = "telemetron.task.priority"
TASK_BLOCKED_BY = "telemetron.task.blocked_by"
TASK_SUBMITTED_BY = "telemetron.task.submitted_by"
TASK_PROMPT = "telemetron.task.prompt"
TASK_ARGS = "telemetron.task.args"
PRIORITY_LEVELS = ("low", "normal", "high", "critical")

HANDOFF_REASON = "telemetron.handoff.reason"

# LLM cost (no merged convention) and provider rate-limit state from response headers.
LLM_COST_USD = "telemetron.llm.cost.usd"
LLM_RATELIMIT_REQUESTS_LIMIT = "telemetron.llm.ratelimit.requests.limit"
LLM_RATELIMIT_REQUESTS_REMAINING = "telemetron.llm.ratelimit.requests.remaining"
LLM_RATELIMIT_REQUESTS_RESET = "telemetron.llm.ratelimit.requests.reset"
LLM_RATELIMIT_TOKENS_LIMIT = "telemetron.llm.ratelimit.tokens.limit"
LLM_RATELIMIT_TOKENS_REMAINING = "telemetron.llm.ratelimit.tokens.remaining"
LLM_RATELIMIT_TOKENS_RESET = "telemetron.llm.ratelimit.tokens.reset"
# True when the token counts are LiteLLM's estimate, not the provider's report (streams without usage).
LLM_USAGE_ESTIMATED = "telemetron.llm.usage.estimated"  # oracle_api reads it (oracle/llm.py)

# Work in progress: a zero-length "pending" span emitted when a real span starts (and again as a
# heartbeat while it stays open). Its parent is the real span; it carries the real span's name,
# attributes and start time, and the real span's own parent here. It is no GenAI operation, so its
# gen_ai.operation.name moves to telemetron.pending.operation.name (GenAI-aware backends count
# spans carrying gen_ai.operation.name as calls); readers accept both encodings. Logfire's equivalent
# (logfire.span_type = "pending_span", logfire.pending_parent_id) is accepted too.
SPAN_TYPE = "telemetron.span_type"
SPAN_TYPE_PENDING = "pending_span"
PENDING_PARENT_ID = "telemetron.pending_parent_id"
PENDING_OPERATION_NAME = "telemetron.pending.operation.name"
LOGFIRE_SPAN_TYPE = "logfire.span_type"
LOGFIRE_PENDING_PARENT_ID = "logfire.pending_parent_id"

OP_HANDOFF_TOOL_PREFIX = "transfer_to_"

# Task queue spans: who consumes the task (the process side).
TASK_PROCESSED_BY = "telemetron.task.processed_by"

# telemetron.llm.ratelimit.*.reset values are seconds until the provider's window resets (a double),
# parsed from the provider's reset header ("6m0s", "20ms", "1s", a number, or an RFC 3339 time).
