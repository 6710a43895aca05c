"""The GenAI client metrics: token usage and operation duration, with the convention's buckets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

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
        attributes: MetricAttributes,
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        self._duration.record(duration_s, attributes.duration)
        if input_tokens is not None:
            self._tokens.record(input_tokens, attributes.input_tokens)
        if output_tokens is not None:
            self._tokens.record(output_tokens, attributes.output_tokens)


class MetricAttributes(NamedTuple):
    """The three attribute sets of one call's records, built once per model and server, not per call."""

    duration: Attributes
    input_tokens: Attributes
    output_tokens: Attributes

    @classmethod
    def of(cls, attributes: Mapping[str, Any]) -> MetricAttributes:
        return cls(
            dict(attributes),
            {**attributes, semconv.GEN_AI_TOKEN_TYPE: "input"},
            {**attributes, semconv.GEN_AI_TOKEN_TYPE: "output"},
        )

    def with_error(self, error_type: str) -> MetricAttributes:
        return MetricAttributes.of({**self.duration, semconv.ERROR_TYPE: error_type})
