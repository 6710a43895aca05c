"""The Oracle: live system state (agents, workload, queues, LLM usage) derived from telemetry as it arrives.

``Oracle`` (engine.py) folds committed spans, pending-span records and metric points into one
tracker per part (agents.py, workload.py, queues.py, llm.py, tools.py, handoffs.py). Readers get
the trackers through a ``StateView`` (view.py): state.py assembles the document of
oracle-state.schema.json from it, each module of detectors/ finds one kind of trouble in it, and
issues.py keeps which issues are open since when. snapshots.py keeps the history for ``?at=``
and diffs; rebuild.py refills the trackers after a restart.
"""

from .engine import Oracle, comparable, parse_iso_ns
from .issues import SEVERITIES
from .schema import validation_errors
from .state import filter_state, render_log

__all__ = ["Oracle", "SEVERITIES", "comparable", "filter_state", "parse_iso_ns", "render_log", "validation_errors"]
