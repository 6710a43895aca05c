"""The GenAI histograms aggregated by Telemetron give the points the SDK's own histograms give.

Every test drives two ``GenAIMetrics`` with the same calls: one on a MeterProvider read through our
reader (aggregated in ``metrics.GenAIHistograms``), one on a plain SDK MeterProvider (the SDK's
instruments), and compares what their readers collect.
"""

from __future__ import annotations

import math

import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
)
from telemetron_instrumentation import semconv
from telemetron_instrumentation.metrics import (
    _FOLD_AT,
    CARDINALITY_LIMIT,
    DURATION_BUCKETS,
    TOKEN_BUCKETS,
    GenAIHistograms,
    GenAIInMemoryMetricReader,
    GenAIMetrics,
    GenAIPeriodicExportingMetricReader,
    genai_meter_provider,
)

CHAT = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
    semconv.SERVER_ADDRESS: "api.openai.com",
    semconv.SERVER_PORT: 443,
}
EMBED = {**CHAT, semconv.GEN_AI_OPERATION_NAME: "embeddings", semconv.GEN_AI_REQUEST_MODEL: "text-embedding-3"}

# (attributes, duration s, input tokens, output tokens): values on, between and beyond bucket bounds
CALLS = [
    (CHAT, 0.01, 16, 4),
    (CHAT, 0.015, 17, 0),
    (CHAT, 81.92, 67108864, 1),
    (CHAT, 120.0, 67108865, 3),
    (CHAT, 0.0, 0, None),
    (EMBED, 0.32, 1024, None),
    (EMBED, 0.5, 5, None),
    (CHAT, 1.28, 256, 64),
]


def _temporality(delta: bool) -> dict:
    return {Histogram: AggregationTemporality.DELTA} if delta else {}


def _pair(delta: bool = False):
    """(ours, ours' reader), (the SDK's, its reader): two GenAIMetrics to drive alike."""
    histograms = GenAIHistograms()
    ours_reader = GenAIInMemoryMetricReader(histograms, preferred_temporality=_temporality(delta))
    ours_provider = genai_meter_provider(histograms, [ours_reader])
    sdk_reader = InMemoryMetricReader(preferred_temporality=_temporality(delta))
    sdk_provider = MeterProvider(metric_readers=[sdk_reader])
    return (GenAIMetrics(ours_provider), ours_reader), (GenAIMetrics(sdk_provider), sdk_reader)


def _points(reader) -> dict:
    """{(metric, unit, temporality, attributes): (count, sum, buckets, bounds, min, max)} of one collection."""
    out = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "telemetron_instrumentation"
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    key = (
                        metric.name,
                        metric.unit,
                        metric.data.aggregation_temporality,
                        frozenset(p.attributes.items()),
                    )
                    # the SDK sums each interval, then the intervals: float sums may differ in the last bit
                    out[key] = (
                        p.count,
                        round(p.sum, 9),
                        tuple(p.bucket_counts),
                        tuple(p.explicit_bounds),
                        p.min,
                        p.max,
                    )
    return out


def _drive(metrics: GenAIMetrics, calls, error: str | None = None) -> None:
    for attributes, duration, inputs, outputs in calls:
        bound = metrics.bind(attributes)
        if error:
            bound = metrics.with_error(bound, error)
        metrics.record(bound, duration, inputs, outputs)


def test_points_equal_the_sdks_for_the_same_records():
    (ours, ours_reader), (sdk, sdk_reader) = _pair()
    for m in (ours, sdk):
        _drive(m, CALLS)
        _drive(m, CALLS[:3], error="RateLimitError")
    expected = _points(sdk_reader)
    assert _points(ours_reader) == expected
    # what that comparison covers: both instruments, the token types, an error set, the bounds
    names = {(k[0], k[1]) for k in expected}
    assert names == {(semconv.METRIC_OPERATION_DURATION, "s"), (semconv.METRIC_TOKEN_USAGE, "{token}")}
    chat_input = expected[
        (
            semconv.METRIC_TOKEN_USAGE,
            "{token}",
            AggregationTemporality.CUMULATIVE,
            frozenset({**CHAT, semconv.GEN_AI_TOKEN_TYPE: "input"}.items()),
        )
    ]
    count, total, buckets, bounds, low, high = chat_input
    assert (count, total, low, high) == (6, 16 + 17 + 67108864 + 67108865 + 0 + 256, 0, 67108865)
    assert bounds == TOKEN_BUCKETS and buckets[2] == 1 and buckets[-2] == 1 and buckets[-1] == 1  # 16 is in (4, 16]
    assert any(dict(k[3]).get(semconv.ERROR_TYPE) == "RateLimitError" for k in expected)


def test_cumulative_points_keep_growing_across_collections():
    (ours, ours_reader), (sdk, sdk_reader) = _pair()
    for m in (ours, sdk):
        _drive(m, CALLS[:2])
    assert _points(ours_reader) == _points(sdk_reader)
    for m in (ours, sdk):
        _drive(m, CALLS[2:])
    second = _points(ours_reader)
    assert second == _points(sdk_reader)
    durations = [v for k, v in second.items() if k[0] == semconv.METRIC_OPERATION_DURATION and dict(k[3]) == CHAT]
    assert durations[0][0] == len([c for c in CALLS if c[0] is CHAT])


def test_delta_points_cover_one_interval_and_skip_quiet_series():
    (ours, ours_reader), (sdk, sdk_reader) = _pair(delta=True)
    for m in (ours, sdk):
        _drive(m, CALLS)
    first = _points(ours_reader)
    assert first == _points(sdk_reader)
    assert all(k[2] == AggregationTemporality.DELTA for k in first)
    for m in (ours, sdk):
        _drive(m, [(CHAT, 2.0, 100, 10)])
    second = _points(ours_reader)
    assert second == _points(sdk_reader)
    assert {dict(k[3])[semconv.GEN_AI_OPERATION_NAME] for k in second} == {"chat"}  # embeddings were quiet
    duration = next(v for k, v in second.items() if k[0] == semconv.METRIC_OPERATION_DURATION)
    assert duration[0] == 1 and duration[4] == duration[5] == 2.0  # min and max of this interval only


@pytest.mark.parametrize("delta", [False, True])
def test_points_equal_the_sdks_when_values_are_folded_while_recording(delta):
    """More records than a series gathers before it folds them, with collections in between."""
    (ours, ours_reader), (sdk, sdk_reader) = _pair(delta)
    calls = [(CHAT, (i % 97) / 10, i % 5000, (i * 7) % 300 or None) for i in range(_FOLD_AT * 2 + 37)]
    for m in (ours, sdk):
        _drive(m, calls[: _FOLD_AT + 5])
    assert _points(ours_reader) == _points(sdk_reader)
    for m in (ours, sdk):
        _drive(m, calls[_FOLD_AT + 5 :])
    points = _points(ours_reader)
    assert points == _points(sdk_reader)
    duration = next(v for k, v in points.items() if k[0] == semconv.METRIC_OPERATION_DURATION)
    assert duration[0] == (len(calls) - _FOLD_AT - 5 if delta else len(calls))


def test_values_waiting_to_be_folded_stay_bounded_between_collections():
    (ours, ours_reader), _ = _pair()
    _drive(ours, [(CHAT, 0.5, 10, 20)] * (_FOLD_AT * 3 + 7))
    histograms = ours_reader.genai_histograms
    assert len(histograms.records) == 7  # queued records are folded whenever _FOLD_AT of them wait
    waiting = [len(s.values) for h in histograms.histograms for s in h.series.values()]
    assert waiting and max(waiting) == 0  # a fold leaves no value unfolded in a series


def test_negative_and_non_finite_values_are_ignored_as_the_sdk_ignores_them():
    (ours, ours_reader), _ = _pair()
    _drive(ours, [(CHAT, -1.0, -5, 3), (CHAT, math.inf, 2, None), (CHAT, math.nan, None, None), (CHAT, 0.2, 1, 1)])
    points = _points(ours_reader)  # SDKs from 1.45 drop the same values (older ones keep an inf)
    duration = next(v for k, v in points.items() if k[0] == semconv.METRIC_OPERATION_DURATION)
    assert (duration[0], duration[1]) == (1, 0.2)
    tokens = sorted(v[:2] for k, v in points.items() if k[0] == semconv.METRIC_TOKEN_USAGE)
    assert tokens == [(2, 3), (2, 4)]  # input 2 + 1 (not -5), output 3 + 1


def test_attribute_sets_beyond_the_cardinality_limit_share_the_overflow_series():
    (ours, ours_reader), (sdk, sdk_reader) = _pair()
    models = [{**CHAT, semconv.GEN_AI_REQUEST_MODEL: f"model-{i}"} for i in range(CARDINALITY_LIMIT + 50)]
    for m in (ours, sdk):
        _drive(m, [(a, 0.1, None, None) for a in models])
    points, sdk_points = _points(ours_reader), _points(sdk_reader)
    # SDKs before 1.45.2 keep every series; from 1.45.2 they overflow as we do. Either way the
    # series we keep are the SDK's.
    kept = {k: v for k, v in points.items() if dict(k[3]) != {"otel.metric.overflow": True}}
    assert kept.items() <= sdk_points.items()
    overflow = [v for k, v in points.items() if dict(k[3]) == {"otel.metric.overflow": True}]
    assert len(points) == CARDINALITY_LIMIT + 1 and overflow and overflow[0][0] == 50


class _Collecting(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.exports: list = []

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        self.exports.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


def test_the_exporting_reader_sends_ours_beside_the_sdks_and_alone():
    histograms = GenAIHistograms()
    exporter = _Collecting()
    reader = GenAIPeriodicExportingMetricReader(exporter, histograms, export_interval_millis=math.inf)
    provider = genai_meter_provider(histograms, [reader])
    metrics = GenAIMetrics(provider)

    provider.force_flush()
    assert exporter.exports == []  # nothing recorded anywhere: no empty export
    _drive(metrics, CALLS[:1])
    provider.force_flush()  # the SDK has no metric of its own: ours alone
    [alone] = exporter.exports
    assert [m.name for sm in alone.resource_metrics[0].scope_metrics for m in sm.metrics] == [
        semconv.METRIC_TOKEN_USAGE,
        semconv.METRIC_OPERATION_DURATION,
    ]

    provider.get_meter("app").create_counter("app.requests").add(3)
    provider.force_flush()
    both = exporter.exports[-1]
    assert len(both.resource_metrics) == 1 and both.resource_metrics[0].resource == histograms.resource
    scopes = {sm.scope.name: [m.name for m in sm.metrics] for sm in both.resource_metrics[0].scope_metrics}
    assert scopes == {
        "app": ["app.requests"],
        "telemetron_instrumentation": [semconv.METRIC_TOKEN_USAGE, semconv.METRIC_OPERATION_DURATION],
    }
    provider.shutdown()


@pytest.mark.parametrize("boundaries", [DURATION_BUCKETS, TOKEN_BUCKETS])
def test_every_value_lands_in_the_bucket_the_sdk_puts_it_in(boundaries):
    """Each bound, and values between and beyond them: our bisect against the SDK's aggregation."""
    (ours, ours_reader), (sdk, sdk_reader) = _pair()
    values = sorted({*boundaries, *(b * 1.5 for b in boundaries), *(b / 2 for b in boundaries)})
    for metrics in (ours, sdk):
        bound = metrics.bind(CHAT)
        for v in values:
            if boundaries is DURATION_BUCKETS:
                metrics.record(bound, v, None, None)
            else:
                metrics.record(bound, 0.1, int(v), None)
    name = semconv.METRIC_OPERATION_DURATION if boundaries is DURATION_BUCKETS else semconv.METRIC_TOKEN_USAGE
    points = {k: v for k, v in _points(ours_reader).items() if k[0] == name}
    assert points == {k: v for k, v in _points(sdk_reader).items() if k[0] == name}
    [(count, _, buckets, bounds, _, _)] = points.values()
    assert bounds == boundaries and count == len(values) and all(buckets)  # every bucket got a value


def test_records_from_many_threads_during_collections_are_all_counted_once():
    """Records are appended without a lock while delta collections fold them: none lost or doubled."""
    import threading

    (ours, ours_reader), _ = _pair(delta=True)
    bound = ours.bind(CHAT)
    per_thread, threads = 20 * _FOLD_AT + 11, 4
    counted = []
    done = threading.Event()

    def collect_until_done():
        while not done.is_set():
            counted.append(_duration_count(ours_reader))

    def record():
        for i in range(per_thread):
            ours.record(bound, 0.1 + i % 7, 3, 4)

    collector = threading.Thread(target=collect_until_done)
    collector.start()
    workers = [threading.Thread(target=record) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    collector.join()
    counted.append(_duration_count(ours_reader))
    assert sum(counted) == per_thread * threads
    assert len(counted) > 2  # collections did run while records were coming in


def _duration_count(reader) -> int:
    points = _points(reader)
    return sum(v[0] for k, v in points.items() if k[0] == semconv.METRIC_OPERATION_DURATION)
