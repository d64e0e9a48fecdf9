"""`wastestream grafana provision`: folders, datasources, dashboards, alert rules, contact point and
contractor organisations, through Grafana's HTTP API with grafana-client. Idempotent: a re-run
updates in place and creates nothing new.

* The dispatch organisation (Grafana's main org, id 1) gets the city datasource and dashboards and
  the alert rules.
* Each contractor gets its own organisation, whose only datasource reads the contractor's bucket
  with the contractor's read token, and its own dashboards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

from wastestream.grafana.alerts import FOLDER_UID, Channel, alert_rules, contact_point, notification_policy
from wastestream.grafana.dashboards import DISPATCH_DS_UID, Basemap, all_dashboards, contractor_ds_uid
from wastestream.schemas import City

DASHBOARD_FOLDER_UID = "wastestream"


@dataclass
class GrafanaTarget:
    url: str  # e.g. http://127.0.0.1:3000
    credential: tuple[str, str] | str  # (user, password) or an API token
    influx_url: str  # InfluxDB as Grafana reaches it
    influx_org: str
    webhook_url: str
    channel: Channel = "webhook"  # webhook | dingding | wecom (the URL is then the robot's)
    basemap: Basemap = "osm"  # osm (WGS-84) | amap (AutoNavi tiles, GCJ-02)
    viewer_passwords: dict[str, str] = field(default_factory=dict)  # contractor → its viewer's password


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def _api(target: GrafanaTarget, org_id: int | None = None):  # noqa: ANN202
    from grafana_client import GrafanaApi

    u = urlsplit(target.url)
    return GrafanaApi(
        auth=target.credential,
        host=u.hostname or "localhost",
        port=u.port,
        protocol=u.scheme or "http",
        url_path_prefix=u.path.strip("/"),
        organization_id=org_id,
        timeout=30,
    )


def _exists(call: Callable[[], object]) -> bool:
    from grafana_client.client import GrafanaClientError

    try:
        call()
        return True
    except GrafanaClientError as e:
        if getattr(e, "status_code", None) == 404:
            return False
        raise


def viewer_login(contractor_id: str) -> str:
    return f"contractor-{contractor_id.lower()}"


def _viewer(admin, org_id: int, c, password: str, rep: ProvisionReport) -> None:  # noqa: ANN001
    """The contractor's Grafana user: a Viewer of its own organisation and a member of no other (a
    new Grafana user also joins the main org, the dispatch center's, unless removed)."""
    login = viewer_login(c.id)
    if _exists(lambda: admin.users.find_user(login)):
        user_id = admin.users.find_user(login)["id"]
        admin.admin.change_user_password(user_id, password)
        rep.updated.append(f"user {login}")
    else:
        user_id = admin.admin.create_user(
            {"name": f"{c.name} ({c.id})", "login": login, "password": password, "OrgId": org_id}
        )["id"]
        rep.created.append(f"user {login}")
    orgs = {o["orgId"]: o["role"] for o in admin.users.get_user_organisations(user_id)}
    if org_id not in orgs:
        admin.organizations.organization_user_add(org_id, {"loginOrEmail": login, "role": "Viewer"})
    elif orgs[org_id] != "Viewer":
        admin.organizations.organization_user_update(org_id, user_id, "Viewer")
    for other in orgs:
        if other != org_id:
            admin.organizations.organization_user_delete(other, user_id)
            rep.updated.append(f"user {login} removed from org {other}")


def _datasource(uid: str, name: str, bucket: str, token: str, t: GrafanaTarget) -> dict:
    return {
        "uid": uid,
        "name": name,
        "type": "influxdb",
        "access": "proxy",
        "url": t.influx_url,
        "isDefault": True,
        "jsonData": {"version": "Flux", "organization": t.influx_org, "defaultBucket": bucket},
        "secureJsonData": {"token": token},
    }


def _org_content(api, ds: dict, dashboards: list, rep: ProvisionReport, where: str) -> None:  # noqa: ANN001
    if _exists(lambda: api.datasource.get_datasource_by_uid(ds["uid"])):
        api.datasource.update_datasource_by_uid(ds["uid"], ds)
        rep.updated.append(f"{where} datasource {ds['uid']}")
    else:
        api.datasource.create_datasource(ds)
        rep.created.append(f"{where} datasource {ds['uid']}")
    if _exists(lambda: api.folder.get_folder(DASHBOARD_FOLDER_UID)):
        rep.updated.append(f"{where} folder {DASHBOARD_FOLDER_UID}")
    else:
        api.folder.create_folder("wastestream", uid=DASHBOARD_FOLDER_UID)
        rep.created.append(f"{where} folder {DASHBOARD_FOLDER_UID}")
    for d in dashboards:
        api.dashboard.update_dashboard(
            {
                "dashboard": d.model,
                "folderUid": DASHBOARD_FOLDER_UID,
                "overwrite": True,
                "message": "provisioned by wastestream",
            }
        )
        rep.updated.append(f"{where} dashboard {d.uid}")


def provision(
    target: GrafanaTarget,
    city: City,
    city_bucket: str,
    city_token: str,
    contractor_tokens: dict[str, str],
    plan_t: float,
    contractors_only: bool = False,
) -> ProvisionReport:
    """Everything (idempotent); ``contractors_only`` leaves the main org to file provisioning (the
    compose stack: Grafana refuses API changes to file-provisioned dashboards)."""
    rep = ProvisionReport()
    if not contractors_only:
        _dispatch(target, city, city_bucket, city_token, plan_t, rep)
    _contractors(target, city, contractor_tokens, plan_t, rep)
    return rep


def _dispatch(
    target: GrafanaTarget, city: City, city_bucket: str, city_token: str, plan_t: float, rep: ProvisionReport
) -> None:
    """The dispatch center: Grafana's main organisation, with the city's datasource, dashboards and
    alerting."""
    main = _api(target, 1)
    _org_content(
        main,
        _datasource(DISPATCH_DS_UID, "wastestream (city)", city_bucket, city_token, target),
        all_dashboards(city_bucket, DISPATCH_DS_UID, plan_t, tz=city.timezone, basemap=target.basemap),
        rep,
        "dispatch",
    )
    if not _exists(lambda: main.folder.get_folder(FOLDER_UID)):
        main.folder.create_folder("wastestream alerts", uid=FOLDER_UID)
        rep.created.append(f"dispatch folder {FOLDER_UID}")
    cp = contact_point(target.webhook_url, target.channel)
    if any(c.get("uid") == cp["uid"] for c in main.alertingprovisioning.get_contactpoints()):
        main.alertingprovisioning.update_contactpoint(cp["uid"], cp)
        rep.updated.append(f"dispatch contact point {cp['uid']}")
    else:
        main.alertingprovisioning.create_contactpoint(cp)
        rep.created.append(f"dispatch contact point {cp['uid']}")
    main.alertingprovisioning.set_notification_policy_tree(notification_policy())
    for rule in alert_rules(city_bucket, DISPATCH_DS_UID):
        if _exists(partial(main.alertingprovisioning.get_alertrule, rule["uid"])):
            main.alertingprovisioning.update_alertrule(rule["uid"], rule)
            rep.updated.append(f"alert rule {rule['uid']}")
        else:
            main.alertingprovisioning.create_alertrule(rule)
            rep.created.append(f"alert rule {rule['uid']}")


def _contractors(
    target: GrafanaTarget, city: City, contractor_tokens: dict[str, str], plan_t: float, rep: ProvisionReport
) -> None:
    """One organisation per contractor, with its own datasource, dashboards and viewer user."""
    admin = _api(target)
    for c in city.contractors:
        org_name = f"contractor-{c.id.lower()}"  # ASCII: it travels in URL paths
        try:
            org_id = admin.organization.find_organization(org_name)["id"]
            rep.updated.append(f"org {c.id}")
        except Exception as e:  # noqa: BLE001 - grafana-client raises its 404 error here
            if getattr(e, "status_code", None) != 404:
                raise
            org_id = admin.organization.create_organization({"name": org_name})["orgId"]
            rep.created.append(f"org {c.id}")
        if c.id in target.viewer_passwords:
            _viewer(admin, org_id, c, target.viewer_passwords[c.id], rep)
        uid = contractor_ds_uid(c.id)
        _org_content(
            _api(target, org_id),
            _datasource(uid, f"wastestream ({c.id})", c.bucket_name, contractor_tokens[c.id], target),
            all_dashboards(c.bucket_name, uid, plan_t, contractor=c.id, tz=city.timezone, basemap=target.basemap),
            rep,
            f"org {c.id}",
        )
