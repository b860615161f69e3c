"""Fake X and Graph API servers on 127.0.0.1, speaking each platform's documented formats."""

from tests.fake_platforms.graph_api import FakeGraph
from tests.fake_platforms.x_api import FakeX

__all__ = ["FakeGraph", "FakeX"]
