"""A local HTTP double of the parts of Grafana's API that provisioning uses (Grafana itself cannot
run on these machines). It keeps state per organisation (X-Grafana-Org-Id) and records requests."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class GrafanaDouble:
    def __init__(self) -> None:
        self.orgs: dict[int, str] = {1: "Main Org."}
        self.datasources: dict[tuple[int, str], dict] = {}
        self.folders: dict[tuple[int, str], dict] = {}
        self.dashboards: dict[tuple[int, str], dict] = {}
        self.rules: dict[str, dict] = {}
        self.contact_points: dict[str, dict] = {}
        self.policy: dict | None = None
        self.users: dict[int, dict] = {}  # id -> {login, name, password}
        self.members: dict[tuple[int, int], str] = {}  # (org, user) -> role
        self.auto_assign_org = True  # Grafana's default: a new user also joins the main org
        self.requests: list[tuple[str, str, int]] = []  # method, path, org
        self.auth_seen: set[str] = set()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: ANN002
                pass

            def _send(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                org = int(self.headers.get("X-Grafana-Org-Id") or 1)
                path = unquote(self.path.split("?")[0])
                if "?" in self.path:
                    path += "?" + unquote(self.path.split("?", 1)[1])
                double.requests.append((method, path, org))
                double.auth_seen.add(self.headers.get("Authorization", ""))
                code, out = double.route(method, path, org, body)
                self._send(code, out)

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_PUT(self):  # noqa: N802
                self._handle("PUT")

            def do_PATCH(self):  # noqa: N802
                self._handle("PATCH")

            def do_DELETE(self):  # noqa: N802
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def snapshot(self) -> tuple:
        """What provisioning leaves behind (to compare two runs)."""
        return (
            dict(self.orgs),
            dict(self.datasources),
            set(self.dashboards),
            dict(self.rules),
            dict(self.contact_points),
            dict(self.members),
        )

    def __enter__(self) -> GrafanaDouble:
        self.thread.start()
        return self

    def __exit__(self, *a) -> None:  # noqa: ANN002
        self.server.shutdown()

    def route(self, method: str, path: str, org: int, body) -> tuple[int, object]:  # noqa: ANN001, C901
        nf = (404, {"message": "not found"})
        if m := re.fullmatch(r"/api/users/lookup\?loginOrEmail=(.+)", path):
            for uid, u in self.users.items():
                if u["login"] == m[1]:
                    return 200, {"id": uid, "login": u["login"], "name": u["name"]}
            return nf
        if path == "/api/admin/users" and method == "POST":
            if any(u["login"] == body["login"] for u in self.users.values()):
                return 412, {"message": "user already exists"}
            uid = max(self.users, default=1) + 1
            self.users[uid] = {"login": body["login"], "name": body["name"], "password": body["password"]}
            self.members[(body.get("OrgId") or 1, uid)] = "Viewer"
            if self.auto_assign_org:
                self.members[(1, uid)] = "Viewer"
            return 200, {"id": uid, "message": "User created"}
        if m := re.fullmatch(r"/api/admin/users/(\d+)/password", path):
            self.users[int(m[1])]["password"] = body["password"]
            return 200, {"message": "User password updated"}
        if m := re.fullmatch(r"/api/users/(\d+)/orgs", path):
            uid = int(m[1])
            return 200, [
                {"orgId": o, "name": self.orgs[o], "role": r} for (o, u), r in sorted(self.members.items()) if u == uid
            ]
        if m := re.fullmatch(r"/api/orgs/(\d+)/users", path):
            oid = int(m[1])
            if method == "POST":
                uid = next(i for i, u in self.users.items() if u["login"] == body["loginOrEmail"])
                if (oid, uid) in self.members:
                    return 409, {"message": "User is already member of this organization"}
                self.members[(oid, uid)] = body["role"]
                return 200, {"message": "User added to organization"}
            return 200, [{"userId": u, "role": r} for (o, u), r in self.members.items() if o == oid]
        if m := re.fullmatch(r"/api/orgs/(\d+)/users/(\d+)", path):
            key = (int(m[1]), int(m[2]))
            if key not in self.members:
                return nf
            if method == "DELETE":
                del self.members[key]
                return 200, {"message": "User removed from organization"}
            self.members[key] = body["role"]
            return 200, {"message": "Organization user updated"}
        if m := re.fullmatch(r"/api/orgs/name/(.+)", path):
            for oid, name in self.orgs.items():
                if name == m[1]:
                    return 200, {"id": oid, "name": name}
            return nf
        if path == "/api/orgs" and method == "POST":
            oid = max(self.orgs) + 1
            self.orgs[oid] = body["name"]
            return 200, {"orgId": oid, "message": "Organization created"}
        if m := re.fullmatch(r"/api/datasources/uid/(.+)", path):
            key = (org, m[1])
            if method == "GET":
                return (200, self.datasources[key]) if key in self.datasources else nf
            if method == "PUT":
                if key not in self.datasources:
                    return nf
                self.datasources[key] = body
                return 200, {"message": "Datasource updated"}
        if path == "/api/datasources" and method == "POST":
            if (org, body["uid"]) in self.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            self.datasources[(org, body["uid"])] = body
            return 200, {"message": "Datasource added"}
        if m := re.fullmatch(r"/api/folders/(.+)", path):
            key = (org, m[1])
            return (200, self.folders[key]) if key in self.folders else nf
        if path == "/api/folders" and method == "POST":
            if (org, body["uid"]) in self.folders:
                return 409, {"message": "folder exists"}
            self.folders[(org, body["uid"])] = body
            return 200, body
        if path == "/api/dashboards/db" and method == "POST":
            uid = body["dashboard"]["uid"]
            if (org, uid) in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "exists"}
            if (org, body.get("folderUid")) not in self.folders:
                return 400, {"message": "folder not found"}
            self.dashboards[(org, uid)] = body
            return 200, {"uid": uid, "status": "success"}
        if m := re.fullmatch(r"/api/v1/provisioning/alert-rules/(.+)", path):
            if method == "GET":
                return (200, self.rules[m[1]]) if m[1] in self.rules else nf
            if method == "PUT":
                self.rules[m[1]] = body
                return 200, body
        if path == "/api/v1/provisioning/alert-rules" and method == "POST":
            if (org, body["folderUID"]) not in self.folders:
                return 400, {"message": "folder not found"}
            self.rules[body["uid"]] = body
            return 201, body
        if path == "/api/v1/provisioning/contact-points":
            if method == "GET":
                return 200, list(self.contact_points.values())
            self.contact_points[body["uid"]] = body
            return 202, body
        if m := re.fullmatch(r"/api/v1/provisioning/contact-points/(.+)", path):
            self.contact_points[m[1]] = body
            return 202, body
        if path == "/api/v1/provisioning/policies" and method == "PUT":
            self.policy = body
            return 202, {"message": "policies updated"}
        return 404, {"message": f"double has no route {method} {path}"}
