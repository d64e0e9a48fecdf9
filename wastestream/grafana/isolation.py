"""Per-contractor isolation in InfluxDB: one bucket and one read-only token scoped to it each.

The worker writes each contractor's records to ``contractor-<id>`` as well as to the city bucket;
a contractor's Grafana organisation uses a datasource with that contractor's token, so InfluxDB
itself refuses anything else (tested against the real server).
"""

from __future__ import annotations

import json

from wastestream.errors import WastestreamError
from wastestream.schemas import City
from wastestream.settings import Settings


def read_token(settings: Settings, bucket_name: str) -> str:
    """A token that can only read ``bucket_name`` (created once, found again by its description)."""
    return _read_tokens(settings, [bucket_name])[bucket_name]


def contractor_read_tokens(settings: Settings, city: City) -> dict[str, str]:
    """Contractor id → a token that can only read that contractor's bucket."""
    tokens = _read_tokens(settings, [c.bucket_name for c in city.contractors])
    return {c.id: tokens[c.bucket_name] for c in city.contractors}


def _read_tokens(settings: Settings, bucket_names: list[str]) -> dict[str, str]:
    from influxdb_client import Authorization, InfluxDBClient, Permission, PermissionResource

    out: dict[str, str] = {}
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org) as c:
        org = c.organizations_api().find_organizations(org=settings.influx_org)[0]
        buckets_api = c.buckets_api()
        auth_api = c.authorizations_api()
        existing = {a.description: a for a in auth_api.find_authorizations(org_id=org.id)}
        # InfluxDB shows a token's value only when it is created: keep them in the local state dir
        known_file = settings.state_dir / "read-tokens.json"
        known: dict[str, str] = json.loads(known_file.read_text()) if known_file.exists() else {}
        for name in bucket_names:
            bucket = buckets_api.find_bucket_by_name(name)
            if bucket is None:
                bucket = buckets_api.create_bucket(bucket_name=name, org_id=org.id)
            desc = f"wastestream read {name}"
            auth = existing.get(desc)
            if auth is not None and auth.id in known:
                out[name] = known[auth.id]
                continue
            if auth is not None:  # exists but its value is lost: replace it
                auth_api.delete_authorization(auth)
            perms = [
                Permission(action="read", resource=PermissionResource(type="buckets", id=bucket.id, org_id=org.id)),
                # reading the org record lets queries name the org (as Grafana's datasource does)
                Permission(action="read", resource=PermissionResource(type="orgs", id=org.id)),
            ]
            auth = auth_api.create_authorization(
                authorization=Authorization(org_id=org.id, permissions=perms, description=desc)
            )
            known[auth.id] = out[name] = auth.token
        known_file.parent.mkdir(parents=True, exist_ok=True)
        known_file.write_text(json.dumps(known))
        known_file.chmod(0o600)
    return out


def viewer_passwords(settings: Settings, city: City) -> dict[str, str]:
    """Contractor id → the password of its Grafana viewer user: generated once, kept (mode 600) in
    ``<state_dir>/grafana-viewers.json`` for the bureau to hand over — never in the repository."""
    import secrets

    given: dict[str, str] = {}
    if settings.grafana_viewer_passwords is not None:  # from a secret store (k8s: the provisioning Job)
        for part in settings.grafana_viewer_passwords.get_secret_value().split(","):
            cid, sep, pw = part.strip().partition("=")
            if part.strip() and (not sep or not pw):
                raise WastestreamError("WASTESTREAM_GRAFANA_VIEWER_PASSWORDS: give CONTRACTOR=password,...")
            if sep:
                given[cid] = pw
    path = settings.state_dir / "grafana-viewers.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    known |= given
    out = {c.id: known.get(c.id) or secrets.token_urlsafe(18) for c in city.contractors}
    if out != known:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1))
    path.chmod(0o600)
    return out
