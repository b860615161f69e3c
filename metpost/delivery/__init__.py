"""Delivery: recorded posts onto their platforms, exactly once.

``engine`` runs a broadcast (claims, heartbeat, retries, reconciling); ``fanout`` the
concurrency; ``policy`` the limits and the clock; ``holds`` throttled accounts; ``reconcile``
finding a post that may exist.
"""

from metpost.delivery.engine import Delivery
from metpost.delivery.policy import Clock, DeliveryPolicy, SystemClock

__all__ = ["Clock", "Delivery", "DeliveryPolicy", "SystemClock"]
