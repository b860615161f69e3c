"""Delivery: recorded posts onto their platforms, exactly once.

``engine`` runs a broadcast (claims, retries, reconciling); ``heartbeat`` keeps its claims
alive; ``fanout`` the concurrency; ``policy`` the limits and the clock; ``holds`` throttled
accounts; ``reconcile`` finding a post that may exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metpost.delivery.policy import Clock, DeliveryPolicy, SystemClock

if TYPE_CHECKING:
    from metpost.delivery.engine import Delivery

__all__ = ["Clock", "Delivery", "DeliveryPolicy", "SystemClock"]


def __getattr__(name: str) -> Any:
    """The engine (and the platform machinery it brings) loads only when a run delivers."""
    if name == "Delivery":
        from metpost.delivery.engine import Delivery

        return Delivery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
