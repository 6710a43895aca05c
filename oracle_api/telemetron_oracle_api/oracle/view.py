"""What the state document and the issue detectors read: the trackers, without the Oracle that feeds them."""

from __future__ import annotations

from dataclasses import dataclass

from ..receiver.rejections import RejectionLog
from ..settings import Settings
from .agents import AgentTracker
from .handoffs import HandoffTracker
from .liveness import Instances, Progress
from .llm import LlmTracker
from .queues import QueueTracker
from .tasks import Outcomes
from .tools import ToolTracker
from .workload import WorkloadTracker


@dataclass(frozen=True, slots=True)
class StateView:
    """Read under the Oracle's lock; readers call the trackers' read methods and never fold data in."""

    settings: Settings
    agents: AgentTracker
    tools: ToolTracker
    handoffs: HandoffTracker
    queues: QueueTracker
    llm: LlmTracker
    workload: WorkloadTracker
    outcomes: Outcomes
    rejections: RejectionLog | None  # what the receiver refused; None without a store
    progress: Progress  # when each trace last moved, and its open tool spans
    instances: Instances  # which processes run each agent, and the work lost when one died
