"""wastestream: an event-driven pipeline for sanitation (环卫) telemetry."""

__version__ = "0.1.0"
