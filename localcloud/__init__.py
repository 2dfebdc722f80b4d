"""Stageflow's local AWS cloud: moto's server plus the ECS, ELBv2 and fault behaviour moto lacks."""

from .server import HOST, LocalCloud, PortInUseError

__all__ = ["HOST", "LocalCloud", "PortInUseError"]
