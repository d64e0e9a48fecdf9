"""wastestream.producers."""
