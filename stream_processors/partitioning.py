"""Which partition a key goes to: Kafka's default partitioner (murmur2, as kafka-python and aiokafka
use), shared by the worker (the visit-set and delivery hops) and the parallel recompute."""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_of(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
