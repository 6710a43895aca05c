"""Adding the attributes the LLM callback built to the span it opened, in one dictionary update.

The SDK's ``Span.set_attributes`` checks every value again (its type, a sequence made a tuple,
the length limit) and stores the keys one at a time: with LiteLLM's data cold in the caches that
was about 8 µs of the callback's cost per call (``bench/bench_callback_overhead.py``), as much
as the rest of its own work. The callback's values are already what the SDK would store: str,
bool, int, float and tuples of str. So on an SDK whose span internals this was checked against
(``tests/test_instrumentation_span_attributes.py`` and ``test_instrumentation_litellm.py``, at
both ends of the supported range), with no value length limit set, room under the attribute count
limit and no key already on the span, they go into the span's attribute dict at once, under that
dict's own lock. Everything else takes the SDK's path, which stores the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.version import __version__ as sdk_version

# SDK releases whose Span keeps its attributes in a BoundedAttributes over a plain dict, guarded by
# the BoundedAttributes' lock, with the span's end time in _end_time.
VERIFIED_SDK_SERIES = ("1.42.", "1.43.", "1.44.", "1.45.")
ENABLED = sdk_version.startswith(VERIFIED_SDK_SERIES)


def set_built_attributes(span: Any, attributes: Mapping[str, Any]) -> None:
    """``span.set_attributes(attributes)`` for values already clean (see the module docstring)."""
    bounded = getattr(span, "_attributes", None) if ENABLED else None
    if type(bounded) is BoundedAttributes:
        stored = bounded._dict
        maxlen = bounded.maxlen
        if (
            type(stored) is dict
            and bounded.max_value_len is None
            and (maxlen is None or len(stored) + len(attributes) <= maxlen)
            and span._end_time is None
            and stored.keys().isdisjoint(attributes)  # a key set again moves to the end in the SDK
        ):
            with bounded._lock:
                stored.update(attributes)
            return
    span.set_attributes(attributes)
