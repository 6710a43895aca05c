"""The GenAI client metrics: token usage, operation duration and (streams) time to first chunk, with the convention's buckets.

Two ways to record, the same data model and the same OTLP output:

* **Aggregated here** when the MeterProvider reads through one of our readers
  (``GenAIPeriodicExportingMetricReader``, which ``configure()`` builds, or
  ``GenAIInMemoryMetricReader`` in ``testing``). The SDK's ``Histogram.record`` copies, validates
  and hashes the attribute set on every record: about 12 µs each, three per LLM call, which was
  the largest part of the callback's cost. Here an attribute set is resolved to its series once
  (the callback binds one per model and server), and a record is one append of its values to a
  queue, without a lock; records are folded into the buckets in bulk, in record order, when
  ``_FOLD_AT`` of them wait or a reader collects. The readers add the points to every collection
  next to the SDK's own metrics.
* **Through the SDK's instruments** with any other MeterProvider (the one ``opentelemetry-instrument``
  sets up, or an application's own).

The aggregation is the SDK's explicit-bucket histogram: a value lands in the first bucket whose
upper bound it does not exceed; count, sum, min and max are kept; cumulative points start at the
series' binding (when the callback first sees that model and server); delta points cover the time since that reader's previous collection and
series without records in it are left out. Not done here: exemplars, and Views configured on the
provider do not apply to these two instruments. ``tests/test_instrumentation_metrics.py`` checks
the points against the SDK's for the same records.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections import deque
from collections.abc import Mapping, Sequence
from time import time_ns
from typing import Any, NamedTuple

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.metrics import Histogram as _SDKHistogram
from opentelemetry.sdk.metrics import MeterProvider as SDKMeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from . import __version__, semconv

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
SCOPE_NAME = "telemetron_instrumentation"
CARDINALITY_LIMIT = 2000  # the SDK's default: attribute sets beyond it share one overflow series
_OVERFLOW = {"otel.metric.overflow": True}
_INF = float("inf")
_FOLD_AT = 512  # records queued before the recording thread folds them into their buckets


class _Interval:
    """What one histogram series accumulated since ``start_ns``."""

    __slots__ = ("start_ns", "counts", "count", "sum", "min", "max")

    def __init__(self, start_ns: int, buckets: int) -> None:
        self.start_ns = start_ns
        self.counts = [0] * buckets
        self.count = 0
        self.sum: float = 0
        self.min = float("inf")
        self.max = float("-inf")


class _Series:
    """One attribute set of one histogram: a cumulative interval plus one per delta reader, and
    the values recorded since they were last folded into those intervals."""

    __slots__ = ("histogram", "attributes", "intervals", "values")

    def __init__(self, histogram: _Histogram, attributes: dict, start_ns: int, readers: int) -> None:
        self.histogram = histogram
        self.attributes = attributes
        self.intervals = [histogram.interval(start_ns) for _ in range(readers)]
        self.values: list[float] = []


class _Spec(NamedTuple):
    name: str
    unit: str
    description: str
    boundaries: tuple


TOKEN_USAGE = _Spec(semconv.METRIC_TOKEN_USAGE, "{token}", "Number of input and output tokens used.", TOKEN_BUCKETS)
OPERATION_DURATION = _Spec(semconv.METRIC_OPERATION_DURATION, "s", "GenAI operation duration.", DURATION_BUCKETS)
TIME_TO_FIRST_CHUNK = _Spec(
    semconv.METRIC_TIME_TO_FIRST_CHUNK, "s", "Time to receive the first chunk of a streamed response.", DURATION_BUCKETS
)


class _Histogram:
    def __init__(self, spec: _Spec) -> None:
        self.name, self.unit, self.description = spec.name, spec.unit, spec.description
        self.boundaries = tuple(float(b) for b in spec.boundaries)
        self.series: dict[tuple, _Series] = {}

    def interval(self, start_ns: int) -> _Interval:
        """An empty interval with one count per bucket (one more bucket than boundaries)."""
        return _Interval(start_ns, len(self.boundaries) + 1)


class GenAIHistograms:
    """The GenAI histograms of one MeterProvider, aggregated without the SDK's per-record work."""

    def __init__(self, resource: Resource | None = None) -> None:
        self.resource = resource or Resource.create()
        self.scope = InstrumentationScope(SCOPE_NAME, __version__)
        self.lock = threading.Lock()
        # Records waiting to be folded into their series: appended without a lock (a deque's append and
        # popleft are atomic), folded in record order by whoever holds the lock.
        self.records: deque = deque()
        self.token_usage = _Histogram(TOKEN_USAGE)
        self.duration = _Histogram(OPERATION_DURATION)
        self.first_chunk = _Histogram(TIME_TO_FIRST_CHUNK)
        self.histograms = (self.token_usage, self.duration, self.first_chunk)
        self._delta_readers = 0  # interval 0 is the cumulative one; delta reader n owns interval n

    def fold_records(self) -> None:
        """Move the queued records into their series' values (the caller holds ``lock``)."""
        records = self.records
        touched: dict[int, BoundMetrics] = {}  # BoundMetrics holds a dict: not hashable itself
        while records:  # recording threads only append meanwhile; the lock keeps other folds out
            bound, duration_s, input_tokens, output_tokens, first_chunk_s = records.popleft()
            # The SDK ignores negative and non-finite values on a histogram; so do we.
            if 0 <= duration_s < _INF:
                bound.duration.values.append(duration_s)
            if input_tokens is not None and input_tokens >= 0:
                bound.input_tokens.values.append(input_tokens)
            if output_tokens is not None and output_tokens >= 0:
                bound.output_tokens.values.append(output_tokens)
            if first_chunk_s is not None and 0 <= first_chunk_s < _INF:
                bound.first_chunk.values.append(first_chunk_s)
            touched[id(bound)] = bound
        for bound in touched.values():
            _fold_all(bound)

    def add_delta_reader(self) -> int:
        with self.lock:
            self.fold_records()
            self._delta_readers += 1
            for histogram in self.histograms:
                for series in histogram.series.values():
                    _fold(series)  # recorded before this reader existed: not in its interval
                    series.intervals.append(histogram.interval(time_ns()))
            return self._delta_readers

    def series(self, histogram: _Histogram, attributes: Mapping[str, Any]) -> _Series:
        """The series for an attribute set (of str, bool, int and float values), created on first use."""
        key: tuple = tuple(sorted((k, type(v).__name__, v) for k, v in attributes.items()))
        with self.lock:
            found = histogram.series.get(key)
            if found is None:
                if len(histogram.series) >= CARDINALITY_LIMIT:
                    key, attributes = (("overflow",),), _OVERFLOW
                    found = histogram.series.get(key)
            if found is None:
                found = histogram.series[key] = _Series(histogram, dict(attributes), time_ns(), 1 + self._delta_readers)
            return found

    def collect(self, interval: int, now_ns: int) -> list[Metric]:
        """Points of every histogram: cumulative for interval 0, else that delta reader's, which restarts."""
        temporality = AggregationTemporality.DELTA if interval else AggregationTemporality.CUMULATIVE
        out = []
        with self.lock:
            self.fold_records()
            for histogram in self.histograms:
                points = []
                for series in histogram.series.values():
                    _fold(series)
                    acc = series.intervals[interval]
                    if interval:
                        series.intervals[interval] = histogram.interval(now_ns)
                    if not acc.count:  # bound but nothing recorded (yet, or in this interval)
                        continue
                    points.append(
                        HistogramDataPoint(
                            attributes=series.attributes,
                            start_time_unix_nano=acc.start_ns,
                            time_unix_nano=now_ns,
                            count=acc.count,
                            sum=acc.sum,
                            bucket_counts=tuple(acc.counts),
                            explicit_bounds=histogram.boundaries,
                            min=acc.min,
                            max=acc.max,
                            exemplars=[],
                        )
                    )
                if points:
                    out.append(
                        Metric(
                            histogram.name,
                            histogram.description,
                            histogram.unit,
                            Histogram(data_points=points, aggregation_temporality=temporality),
                        )
                    )
        return out

    def merged(self, data: MetricsData, interval: int) -> MetricsData:
        """``data`` (the SDK's collection, or an empty one) with our metrics added as one more scope."""
        ours = self.collect(interval, time_ns())
        if not ours:
            return data
        scope = ScopeMetrics(self.scope, ours, self.scope.schema_url or "")
        if not data.resource_metrics:
            return MetricsData([ResourceMetrics(self.resource, [scope], self.resource.schema_url)])
        first, *rest = data.resource_metrics  # the SDK reports its provider's one resource
        return MetricsData([ResourceMetrics(first.resource, [*first.scope_metrics, scope], first.schema_url), *rest])


class _ReadsGenAIHistograms:
    """Mixin for an SDK MetricReader: every collection also carries ``histograms``' points."""

    _instrument_class_temporality: dict[type, AggregationTemporality]  # set by MetricReader.__init__
    _collect: Any  # set by the SDK when the reader is registered with a MeterProvider

    def _init_genai(self, histograms: GenAIHistograms) -> None:  # before the reader's own __init__
        self.genai_histograms = histograms
        self._genai_interval = 0
        self._genai_lock = threading.Lock()
        self._genai_received = False

    def _genai_temporality(self) -> None:  # after it: MetricReader.__init__ resolved the temporality
        temporality = next(
            (t for cls, t in self._instrument_class_temporality.items() if issubclass(cls, _SDKHistogram)),
            AggregationTemporality.CUMULATIVE,
        )
        if temporality is AggregationTemporality.DELTA:
            self._genai_interval = self.genai_histograms.add_delta_reader()

    def collect(self, timeout_millis: float = 10_000) -> None:
        with self._genai_lock:
            self._genai_received = False
            super().collect(timeout_millis)  # type: ignore[misc]
            if not self._genai_received and self._collect is not None:  # the SDK had nothing: ours alone
                self._receive_metrics(MetricsData([]), timeout_millis)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._genai_received = True
        merged = self.genai_histograms.merged(metrics_data, self._genai_interval)
        if merged.resource_metrics:  # nothing from the SDK nor from us: no empty export
            super()._receive_metrics(merged, timeout_millis, **kwargs)  # type: ignore[misc]


# The SDK marks MetricReader.collect final; these readers extend it on purpose, to add our points.
class GenAIPeriodicExportingMetricReader(_ReadsGenAIHistograms, PeriodicExportingMetricReader):  # type: ignore[misc]
    def __init__(self, exporter: Any, histograms: GenAIHistograms, **kwargs: Any) -> None:
        self._init_genai(histograms)
        super().__init__(exporter, **kwargs)
        self._genai_temporality()


class GenAIInMemoryMetricReader(_ReadsGenAIHistograms, InMemoryMetricReader):  # type: ignore[misc]
    def __init__(self, histograms: GenAIHistograms, **kwargs: Any) -> None:
        self._init_genai(histograms)
        super().__init__(**kwargs)
        self._genai_temporality()


_AGGREGATED: weakref.WeakKeyDictionary[Any, GenAIHistograms] = weakref.WeakKeyDictionary()


def genai_meter_provider(
    histograms: GenAIHistograms, readers: Sequence[MetricReader], shutdown_on_exit: bool = True
) -> SDKMeterProvider:
    """A MeterProvider over ``readers`` (ours, each reading ``histograms``) whose GenAI metrics are
    recorded into ``histograms``: the provider and the registration are made together, so they match."""
    provider = SDKMeterProvider(resource=histograms.resource, metric_readers=readers, shutdown_on_exit=shutdown_on_exit)
    _AGGREGATED[provider] = histograms
    return provider


class BoundMetrics(NamedTuple):
    """One attribute set's record targets: a series each, or the attributes for the SDK's record."""

    attributes: Mapping[str, Any]
    duration: Any
    input_tokens: Any
    output_tokens: Any
    first_chunk: Any


class GenAIMetrics:
    """Records ``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration`` and ``...time_to_first_chunk``."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        provider = meter_provider or metrics.get_meter_provider()
        try:
            self._histograms = _AGGREGATED.get(provider)
        except TypeError:  # a provider that cannot be weakly referenced was never registered here
            self._histograms = None
        if self._histograms is not None:
            return
        meter = metrics.get_meter(SCOPE_NAME, __version__, provider)
        self._tokens, self._duration, self._first_chunk = (
            meter.create_histogram(
                spec.name,
                unit=spec.unit,
                description=spec.description,
                explicit_bucket_boundaries_advisory=spec.boundaries,
            )
            for spec in (TOKEN_USAGE, OPERATION_DURATION, TIME_TO_FIRST_CHUNK)
        )

    def bind(self, attributes: Mapping[str, Any]) -> BoundMetrics:
        """Resolve an attribute set once (per model and server), for any number of ``record`` calls."""
        inputs = {**attributes, semconv.GEN_AI_TOKEN_TYPE: "input"}
        outputs = {**attributes, semconv.GEN_AI_TOKEN_TYPE: "output"}
        h = self._histograms
        if h is None:
            return BoundMetrics(attributes, dict(attributes), inputs, outputs, dict(attributes))
        return BoundMetrics(
            attributes,
            h.series(h.duration, attributes),
            h.series(h.token_usage, inputs),
            h.series(h.token_usage, outputs),
            h.series(h.first_chunk, attributes),
        )

    def with_error(self, bound: BoundMetrics, error_type: str) -> BoundMetrics:
        return self.bind({**bound.attributes, semconv.ERROR_TYPE: error_type})

    def record(
        self,
        bound: BoundMetrics,
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        first_chunk_s: float | None = None,
    ) -> None:
        h = self._histograms
        if h is None:
            self._duration.record(duration_s, bound.duration)
            if first_chunk_s is not None:
                self._first_chunk.record(first_chunk_s, bound.first_chunk)
            if input_tokens is not None:
                self._tokens.record(input_tokens, bound.input_tokens)
            if output_tokens is not None:
                self._tokens.record(output_tokens, bound.output_tokens)
            return
        h.records.append((bound, duration_s, input_tokens, output_tokens, first_chunk_s))
        if len(h.records) >= _FOLD_AT:
            with h.lock:
                h.fold_records()


def _fold_all(bound: BoundMetrics) -> None:
    for series in (bound.duration, bound.input_tokens, bound.output_tokens, bound.first_chunk):
        _fold(series)


def _fold(series: _Series) -> None:
    """The series' recorded values into every interval, in record order (the caller holds GenAIHistograms.lock)."""
    values = series.values
    if not values:
        return
    series.values = []
    boundaries = series.histogram.boundaries
    indexes = [bisect_left(boundaries, value) for value in values]
    low, high = min(values), max(values)
    for interval in series.intervals:
        counts = interval.counts
        for index in indexes:
            counts[index] += 1
        interval.count += len(values)
        total = interval.sum
        for value in values:  # one addition at a time, as the SDK adds them (sum() may round otherwise)
            total += value
        interval.sum = total
        if low < interval.min:
            interval.min = low
        if high > interval.max:
            interval.max = high
