"""The OTLP trace export request as the hot path parses it: each span attribute left as its bytes.

Reading a span's attributes through protobuf's Python objects makes two wrapper objects per
attribute (the KeyValue and its AnyValue), more than half of decoding a GenAI span. This view is
the same message, field for field, except that ``Span.attributes`` (field 9, ``repeated KeyValue``)
is declared ``repeated bytes``: the same bytes on the wire, handed over unparsed. decode.py turns
each into a key and value, mostly from a cache, since the same (key, value) repeats across spans
(the operation, the provider, the model, the agent, the server).

It lives in a descriptor pool of its own, so the generated classes keep their declarations.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

_SPAN_ATTRIBUTES_FIELD = 9


def _file_proto(module) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_proto(common_pb2))
    pool.Add(_file_proto(resource_pb2))
    trace = _file_proto(trace_pb2)
    span = next(m for m in trace.message_type if m.name == "Span")
    attributes = next(f for f in span.field if f.number == _SPAN_ATTRIBUTES_FIELD)
    attributes.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    attributes.ClearField("type_name")
    pool.Add(trace)
    pool.Add(_file_proto(trace_service_pb2))
    return pool


_POOL = _build_pool()

# The export request and its span, with Span.attributes as raw KeyValue bytes.
TraceRequestView = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
)
SpanView = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("opentelemetry.proto.trace.v1.Span"))
