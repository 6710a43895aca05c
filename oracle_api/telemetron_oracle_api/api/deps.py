"""What the HTTP routes share: the process's services (the access rules are in ``security.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from ..hub import Hub
from ..receiver.auth import GrpcRefusals
from ..receiver.grpc_server import ReceiverStats
from ..settings import Settings
from ..store.interface import TelemetryStore
from .security import HttpRefusals

if TYPE_CHECKING:
    from ..oracle import Oracle
    from ..receiver.decode_process import DecoderProcesses
    from .stream import LiveStream


@dataclass
class Services:
    """Everything a route may need, built once in ``server.py`` and kept on ``app.state``."""

    settings: Settings
    store: TelemetryStore
    hub: Hub
    receiver_stats: ReceiverStats = field(default_factory=ReceiverStats)
    http_refusals: HttpRefusals = field(default_factory=HttpRefusals)
    grpc_refusals: GrpcRefusals = field(default_factory=GrpcRefusals)
    oracle: Oracle | None = None  # the derived state; its routes answer 503 without one
    stream: LiveStream | None = None  # the WebSocket fan-out; its routes say so without one
    decoders: DecoderProcesses | None = None  # trace requests decoded in processes of their own


def get_services(request: Request) -> Services:
    return request.app.state.services
