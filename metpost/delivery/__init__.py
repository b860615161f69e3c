"""Delivery: recorded posts onto their platforms, exactly once.

``engine`` runs a broadcast (claims, retries, reconciling); ``heartbeat`` keeps its claims
alive; ``fanout`` the concurrency; ``policy`` the limits and the clock; ``holds`` throttled
accounts; ``reconcile`` finding a post that may exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metpost.delivery.policy import Clock, DeliveryPolicy, SystemClock
from metpost.lazy import lazy_attributes

if TYPE_CHECKING:
    from metpost.delivery.engine import Delivery

__all__ = ["Clock", "Delivery", "DeliveryPolicy", "SystemClock"]


# The engine (and the platform machinery it brings) loads only when a run delivers.
__getattr__ = lazy_attributes(globals(), {"Delivery": "metpost.delivery.engine:Delivery"})
