"""deploy/k8s cannot be applied here: validate it against the Kubernetes JSON schemas that
kubernetes-validate ships, and check the Strimzi resources and cross-references by hand."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from wastestream.topics import ALL_TOPICS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
DOCS = [(p.name, d) for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
CORE = [(n, d) for n, d in DOCS if not d["apiVersion"].startswith("kafka.strimzi.io/")]
STRIMZI = [(n, d) for n, d in DOCS if d["apiVersion"].startswith("kafka.strimzi.io/")]


@pytest.mark.parametrize(("name", "doc"), CORE, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in CORE])
def test_core_resources_match_the_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_strimzi_resources():
    kinds = {d["kind"] for _, d in STRIMZI}
    assert kinds == {"Kafka", "KafkaNodePool", "KafkaTopic"}
    topics = {d["metadata"]["name"]: d["spec"] for _, d in STRIMZI if d["kind"] == "KafkaTopic"}
    assert set(topics) == {t.name for t in ALL_TOPICS}
    assert len({t["partitions"] for t in topics.values()}) == 1, "co-partitioned: one partition count"
    assert all(
        d["metadata"]["labels"]["strimzi.io/cluster"] == "wastestream" for _, d in STRIMZI if d["kind"] != "Kafka"
    )


def test_every_workload_has_probes_and_resources():
    for _, d in CORE:
        if d["kind"] in ("Deployment", "StatefulSet"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                assert "livenessProbe" in c and "readinessProbe" in c, d["metadata"]["name"]
                assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def test_secrets_are_references_only():
    assert not [d for _, d in DOCS if d["kind"] == "Secret"]
    text = "".join(p.read_text() for p in K8S.glob("*.yaml"))
    assert "secretKeyRef" in text


def test_partition_setting_matches_topics():
    cm = next(d for _, d in CORE if d["kind"] == "ConfigMap")
    parts = {d["spec"]["partitions"] for _, d in STRIMZI if d["kind"] == "KafkaTopic"}
    assert {int(cm["data"]["WASTESTREAM_TOPIC_PARTITIONS"])} == parts


def test_replication_settings_match_the_cluster():
    """The worker creates Faust's changelog, leader and tick topics itself: with the replication the
    cluster's topics have, and a min ISR the brokers accept with acks=all."""
    from wastestream.settings import Settings

    cm = next(d for _, d in CORE if d["kind"] == "ConfigMap")
    s = Settings(**{k.removeprefix("WASTESTREAM_").lower(): v for k, v in cm["data"].items()})
    kafka = next(d for _, d in STRIMZI if d["kind"] == "Kafka")["spec"]["kafka"]["config"]
    replicas = {d["spec"]["replicas"] for _, d in STRIMZI if d["kind"] == "KafkaTopic"}
    assert {s.topic_replication_factor} == replicas == {kafka["default.replication.factor"]}
    assert s.topic_min_insync_replicas == kafka["min.insync.replicas"] < s.topic_replication_factor
