"""Attribute names: the OpenTelemetry GenAI and messaging conventions we follow, and our own.

The agent side writes these and the oracle_api side reads them, so both import them from here.
GenAI conventions are "development" status upstream; names below are the current ones, and the
receiver also accepts deprecated and foreign spellings (``oracle_api``'s ``receiver/normalize.py``).
Our own attributes live under ``telemetron.*`` and are documented in the README.
"""

# --- OpenTelemetry GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM_DEPRECATED = "gen_ai.system"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
# Open proposal (not merged): a handoff is an ``execute_tool transfer_to_<agent>`` span.
GEN_AI_HANDOFF_SOURCE = "gen_ai.agent.handoff.source.name"
GEN_AI_HANDOFF_TARGET = "gen_ai.agent.handoff.target.name"

# gen_ai.operation.name values
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EMBEDDINGS = "embeddings"
OP_GENERATE_CONTENT = "generate_content"
OP_INVOKE_AGENT = "invoke_agent"
OP_CREATE_AGENT = "create_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_WORKFLOW = "invoke_workflow"

# GenAI client metrics
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"

# --- General conventions ----------------------------------------------------------------------
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
SERVICE_NAME = "service.name"
K8S_DEPLOYMENT_NAME = "k8s.deployment.name"
K8S_POD_NAME = "k8s.pod.name"
K8S_NAMESPACE_NAME = "k8s.namespace.name"
K8S_CLUSTER_NAME = "k8s.cluster.name"

# --- Messaging conventions (task queues) ------------------------------------------------------
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"  # "send" | "receive" | "process"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_DESTINATION_NAME = "messaging.destination.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"

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

# Work in progress: a zero-length "pending" span emitted when a real span starts (and again as a
# heartbeat while it stays open). Its parent is the real span; it carries the real span's name,
# attributes and start time, and the real span's own parent here. Logfire's equivalent
# (logfire.span_type = "pending_span", logfire.pending_parent_id) is accepted too.
SPAN_TYPE = "telemetron.span_type"
SPAN_TYPE_PENDING = "pending_span"
PENDING_PARENT_ID = "telemetron.pending_parent_id"
LOGFIRE_SPAN_TYPE = "logfire.span_type"
LOGFIRE_PENDING_PARENT_ID = "logfire.pending_parent_id"

# --- Added by the agent-side instrumentation ----------------------------------------------------
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"  # seconds
GEN_AI_AGENT_VERSION = "gen_ai.agent.version"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
OP_HANDOFF_TOOL_PREFIX = "transfer_to_"

# Task queue spans: who consumes the task (the process side).
TASK_PROCESSED_BY = "telemetron.task.processed_by"

# telemetron.llm.ratelimit.*.reset values are seconds until the provider's window resets (a double),
# parsed from the provider's reset header ("6m0s", "20ms", "1s", a number, or an RFC 3339 time).
