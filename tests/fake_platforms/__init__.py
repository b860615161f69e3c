"""Fake X API v2 and Graph API servers on 127.0.0.1, as unkind as the real platforms.

``FakeX`` and ``FakeGraph`` answer in each platform's documented (or, where the docs are silent,
observed) shapes, and inject the faults each platform is known for; every module docstring says
what it answers and where the shape was found. ``tests.fake_platforms.server`` holds the shared
``FakeServer`` (lifecycle, request log, latency, concurrency count, fault queue), ``Request`` and
``Reply``.
"""

from tests.fake_platforms.graph_api import FakeGraph
from tests.fake_platforms.x_api import FakeX

__all__ = ["FakeGraph", "FakeX"]
