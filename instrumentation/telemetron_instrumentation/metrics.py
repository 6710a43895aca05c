"""The GenAI client metrics: token usage and operation duration, with the convention's buckets."""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider
from opentelemetry.util.types import Attributes

from . import __version__, semconv

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


class GenAIMetrics:
    """Records ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration``."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = metrics.get_meter("telemetron_instrumentation", __version__, meter_provider)
        self._tokens = meter.create_histogram(
            semconv.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            semconv.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    def record(
        self,
        attributes: dict,
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        self._duration.record(duration_s, attributes)
        if input_tokens is not None:
            self._tokens.record(input_tokens, _with(attributes, semconv.GEN_AI_TOKEN_TYPE, "input"))
        if output_tokens is not None:
            self._tokens.record(output_tokens, _with(attributes, semconv.GEN_AI_TOKEN_TYPE, "output"))


def _with(attributes: dict, key: str, value: str) -> Attributes:
    out = dict(attributes)
    out[key] = value
    return out
