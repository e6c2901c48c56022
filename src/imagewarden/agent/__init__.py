"""The host agent: collects what a host's container engines hold and reports it.

Collectors (Docker and Podman through the Engine API, containerd through ``ctr``, image
files on disk) return an ``Inventory``; the ``Agent`` spools the newest snapshot and sends
it as a TC3-signed ``ReportHostAssets`` call, retrying with backoff.  This package never
touches the store; it signs with ``imagewarden.api.signing``.
"""

from __future__ import annotations

from imagewarden.agent.collector import Collector, CollectorError, MultiCollector
from imagewarden.agent.model import ContainerInfo, HostIdentity, ImageInfo, Inventory
from imagewarden.agent.runner import Agent, Backoff, OnceResult
from imagewarden.agent.sender import Sender, SendError
from imagewarden.agent.sources import EngineSettings, detect_sources, make_collector
from imagewarden.agent.state import AgentStateError, StateDir

__all__ = [
    "Agent",
    "AgentStateError",
    "Backoff",
    "Collector",
    "CollectorError",
    "ContainerInfo",
    "EngineSettings",
    "HostIdentity",
    "ImageInfo",
    "Inventory",
    "MultiCollector",
    "OnceResult",
    "SendError",
    "Sender",
    "StateDir",
    "detect_sources",
    "make_collector",
]
