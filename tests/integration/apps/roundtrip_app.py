"""A minimal Faust app for the foundation round-trip test: Kafka -> Faust agent -> InfluxDB.

Configured through environment variables set by the test (RT_*) plus WASTESTREAM_* settings.
"""

import json
import os

import faust
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS

from wastestream.settings import Settings

s = Settings()
(s.state_dir / "faust").mkdir(parents=True, exist_ok=True)
app = faust.App(
    os.environ["RT_APP_ID"],
    broker=f"kafka://{s.kafka_bootstrap}",
    store="memory://",
    datadir=str(s.state_dir / "faust" / os.environ["RT_APP_ID"]),
    web_enabled=False,
    topic_replication_factor=1,
    topic_partitions=1,
)
topic = app.topic(os.environ["RT_TOPIC"], value_serializer="raw")
client = InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org)
writer = client.write_api(write_options=SYNCHRONOUS)


@app.agent(topic)
async def to_influx(stream):
    async for value in stream:
        doc = json.loads(value)
        writer.write(
            s.influx_bucket,
            record=Point(os.environ["RT_MEASUREMENT"])
            .tag("vehicle", doc["vehicle"])
            .field("net_kg", float(doc["net_kg"]))
            .time(doc["ts_ns"]),
        )


if __name__ == "__main__":
    app.main()
