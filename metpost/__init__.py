"""metpost: one message, many accounts, each worded for its audience, on every platform."""

__version__ = "0.1.0"
