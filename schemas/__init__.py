"""wastestream.schemas."""
