"""wastestream.stream_processors."""
