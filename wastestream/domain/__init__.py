"""Pure domain rules: no Kafka, no I/O, no wall clock. One module per rule.

The Faust agents (stream_processors) and `wastestream recompute` are thin shells around these,
so both give identical figures.
"""
