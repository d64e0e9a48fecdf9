"""Kafka administration both the worker and the local stack use (kafka-python's admin client):
topics created with the settings' partitions, replication and min.insync.replicas; end offsets,
a group's committed offsets and lag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wastestream.settings import Settings
from wastestream.topics import TopicSpec


@contextmanager
def admin_client(settings: Settings, timeout_ms: int = 10000) -> Iterator:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="wastestream-admin", request_timeout_ms=timeout_ms
    )
    try:
        yield admin
    finally:
        admin.close()


def ensure_topics(settings: Settings, specs: tuple[TopicSpec, ...] | list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    with admin_client(settings) as admin:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                settings.topic(t.name),
                t.partitions or settings.topic_partitions,
                settings.topic_replication_factor,
                topic_configs={"min.insync.replicas": str(settings.topic_min_insync_replicas), **t.topic_configs()},
            )
            for t in specs
            if settings.topic(t.name) not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    return [t.name for t in missing]


def end_offsets(settings: Settings, topics: list[str]) -> dict:
    """TopicPartition → end offset, for every partition of ``topics``."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in c.partitions_for_topic(t) or ()]
        return c.end_offsets(parts)
    finally:
        c.close()


def group_members(settings: Settings, group: str) -> tuple[str, int]:
    """(state, number of members) of a consumer group (("", 0) while it is not there)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            g = admin.describe_groups([group]).get(group, {})
        finally:
            admin.close()
    except KafkaError:
        return "", 0
    return str(g.get("group_state") or ""), len(g.get("members") or [])


def committed_offsets(settings: Settings, group: str) -> dict:
    """TopicPartition → the offset ``group`` has committed ({} while its coordinator is not there)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            got = admin.list_group_offsets(group).get(group, {})
        finally:
            admin.close()
    except KafkaError:
        return {}
    return {tp: o.offset for tp, o in got.items()}


def group_lag(settings: Settings, group: str, ends: dict) -> int:
    """Messages of ``ends`` (from :func:`end_offsets`) that ``group`` has not committed yet."""
    got = committed_offsets(settings, group)
    return sum(max(0, end - got.get(tp, 0)) for tp, end in ends.items())


def read_compacted(settings: Settings, topic: str) -> dict[str, bytes] | None:
    """The latest value per key of a (compacted) topic, read from its start to its end now; a key
    whose latest record is a tombstone is left out. None when there is no such topic."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        if not parts:
            return None
        c.assign(parts)
        c.seek_to_beginning(*parts)
        ends = c.end_offsets(parts)
        out: dict[str, bytes] = {}
        while any(c.position(tp) < end for tp, end in ends.items()):
            for recs in c.poll(timeout_ms=500).values():
                for r in recs:
                    if r.value is None:
                        out.pop(r.key.decode(), None)
                    else:
                        out[r.key.decode()] = r.value
        return out
    finally:
        c.close()
