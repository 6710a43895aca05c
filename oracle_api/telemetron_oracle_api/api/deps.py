"""What the HTTP routes share: the process's services (the access rules are in ``security.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from ..hub import Hub
from ..receiver.auth import GrpcRefusals
from ..receiver.grpc_server import ReceiverStats
from ..settings import Settings
from ..store.interface import TelemetryStore
from .security import HttpRefusals


@dataclass
class Services:
    """Everything a route may need, built once in ``server.py`` and kept on ``app.state``."""

    settings: Settings
    store: TelemetryStore
    hub: Hub
    receiver_stats: ReceiverStats = field(default_factory=ReceiverStats)
    http_refusals: HttpRefusals = field(default_factory=HttpRefusals)
    grpc_refusals: GrpcRefusals = field(default_factory=GrpcRefusals)
    # Later stages (the Oracle, live streams) attach themselves here by name.
    extras: dict = field(default_factory=dict)


def get_services(request: Request) -> Services:
    return request.app.state.services
