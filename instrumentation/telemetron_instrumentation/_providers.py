"""How LiteLLM's names map to the GenAI conventions: operations, providers, servers, request parameters."""

from __future__ import annotations

from . import semconv

OPERATION_BY_CALL_TYPE = {
    "completion": semconv.OP_CHAT,
    "acompletion": semconv.OP_CHAT,
    "responses": semconv.OP_CHAT,
    "aresponses": semconv.OP_CHAT,
    "anthropic_messages": semconv.OP_CHAT,
    "text_completion": semconv.OP_TEXT_COMPLETION,
    "atext_completion": semconv.OP_TEXT_COMPLETION,
    "embedding": semconv.OP_EMBEDDINGS,
    "aembedding": semconv.OP_EMBEDDINGS,
}

# LiteLLM's custom_llm_provider -> gen_ai.provider.name; anything else is kept as LiteLLM names it.
PROVIDER_NAMES = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "chatgpt": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "text-completion-codestral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}

DEFAULT_SERVERS = {
    "openai": ("api.openai.com", 443),
    "anthropic": ("api.anthropic.com", 443),
    "gcp.gemini": ("generativelanguage.googleapis.com", 443),
    "mistral_ai": ("api.mistral.ai", 443),
    "groq": ("api.groq.com", 443),
    "deepseek": ("api.deepseek.com", 443),
    "x_ai": ("api.x.ai", 443),
    "cohere": ("api.cohere.com", 443),
    "perplexity": ("api.perplexity.ai", 443),
}

# optional_params key -> (attribute, converter)
REQUEST_PARAMS = (
    ("max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("max_completion_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE, float),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P, float),
    ("top_k", semconv.GEN_AI_REQUEST_TOP_K, float),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY, float),
    ("seed", semconv.GEN_AI_REQUEST_SEED, int),
    ("n", semconv.GEN_AI_REQUEST_CHOICE_COUNT, int),
)

REQUEST_PARAM_KEYS = frozenset(param for param, _, _ in REQUEST_PARAMS)
