"""A stand-in for the AWX API, enough for the awx.awx modules of awx/configure.yml.

No AWX server runs on these machines; this answers /api/v2/ as AWX does for the objects Stageflow configures:
lists filtered by field (with `or__` lookups) and paged, create, read, update, delete; associations (credentials,
workflow node edges, role members); survey specs; approval templates created on a workflow node; roles on every
object (`summary_fields.object_roles`); secret credential inputs read back as `$encrypted$`; a project update that
has succeeded. It stores what it is given, as AWX does for these fields, so a second apply compares equal where AWX
would. It keeps a list of the writes it received (`writes`) and listens on 127.0.0.1 only.

It is not AWX: no permissions are enforced, no jobs run, and fields are not validated beyond what is listed here.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"
PRODUCT_VERSION = "24.6.1"
ENCRYPTED = "$encrypted$"
APPROVAL_FIELDS = ("name", "description", "timeout")  # what AWX keeps of an approval template

# A template's notification lists (AWX: /job_templates/<id>/notification_templates_error/ and so on).
NOTIFY = ("notification_templates_started", "notification_templates_success", "notification_templates_error")

# collection -> (type, roles on its objects, associations it has, its name field)
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "organizations": ("organization", ("admin", "execute", "read", "member", "approval", "auditor"), ()),
    "teams": ("team", ("admin", "member", "read"), ()),
    "credential_types": ("credential_type", (), ()),
    "credentials": ("credential", ("admin", "use", "read"), ()),
    "execution_environments": ("execution_environment", (), ()),
    "projects": ("project", ("admin", "use", "update", "read"), ()),
    "project_updates": ("project_update", (), ()),
    "inventories": ("inventory", ("admin", "use", "adhoc", "update", "read"), ()),
    "inventory_sources": ("inventory_source", (), ()),
    "job_templates": (
        "job_template",
        ("admin", "execute", "read"),
        ("credentials", "labels", "instance_groups", *NOTIFY),
    ),
    "workflow_job_templates": (
        "workflow_job_template",
        ("admin", "execute", "read", "approval"),
        ("labels", *NOTIFY, "notification_templates_approvals"),
    ),
    "notification_templates": ("notification_template", (), ()),
    "workflow_job_template_nodes": (
        "workflow_job_template_node",
        (),
        ("success_nodes", "failure_nodes", "always_nodes", "credentials", "labels", "instance_groups"),
    ),
    "workflow_approval_templates": ("workflow_approval_template", (), ()),
    "schedules": ("schedule", (), ("credentials", "labels", "instance_groups")),
    "roles": ("role", (), ("teams", "users")),
}
LAUNCHABLE = ("job_templates", "workflow_job_templates", "projects", "inventory_sources", "workflow_approval_templates")


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        self.objects: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.links: dict[tuple[str, int, str], list[int]] = {}
        self.surveys: dict[int, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []

    def url(self, kind: str, oid: int) -> str:
        return f"/api/v2/{kind}/{oid}/"

    def create(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        oid = next(self.ids)
        obj = {**fields, "id": oid}
        self.objects[kind][oid] = obj
        for role in KINDS[kind][1]:
            self.create("roles", {"name": role, "role_field": f"{role}_role", "resource": self.url(kind, oid)})
            obj.setdefault("_roles", {})[f"{role}_role"] = next(reversed(self.objects["roles"]))
        if kind == "projects":
            update = self.create("project_updates", {"status": "successful", "project": oid, "scm_revision": "1"})
            obj.update(scm_revision="1", _current_update=update["id"])
        return obj

    def render(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        oid = obj["id"]
        url = self.url(kind, oid)
        shown = {k: v for k, v in obj.items() if not k.startswith("_")}
        if kind == "credentials":
            ctype = self.objects["credential_types"].get(obj.get("credential_type"), {})
            secret = {f["id"] for f in ctype.get("inputs", {}).get("fields", []) if f.get("secret")}
            shown["inputs"] = {k: ENCRYPTED if k in secret else v for k, v in obj.get("inputs", {}).items()}
        related = {sub: f"{url}{sub}/" for sub in KINDS[kind][2]}
        if kind in ("job_templates", "workflow_job_templates"):
            related.update(survey_spec=f"{url}survey_spec/", workflow_nodes=f"{url}workflow_nodes/")
        if kind == "projects":
            related["update"] = f"{url}update/"
        if kind == "workflow_job_template_nodes" and obj.get("unified_job_template"):
            template = self.find_launchable(obj["unified_job_template"])
            if template:
                related["unified_job_template"] = self.url(template[0], obj["unified_job_template"])
        summary = {
            "object_roles": {
                field: {"id": rid, "name": field[: -len("_role")]} for field, rid in obj.get("_roles", {}).items()
            }
        }
        if "_current_update" in obj:
            summary["current_update"] = {"id": obj["_current_update"], "status": "successful"}
        return {**shown, "type": KINDS[kind][0], "url": url, "related": related, "summary_fields": summary}

    def find_launchable(self, oid: int) -> tuple[str, dict[str, Any]] | None:
        for kind in LAUNCHABLE:
            if oid in self.objects[kind]:
                return kind, self.objects[kind][oid]
        return None

    def matches(self, kind: str, obj: dict[str, Any], query: list[tuple[str, str]]) -> bool:
        plain = [(k, v) for k, v in query if not k.startswith("or__") and k not in ("page", "page_size", "order_by")]
        either = [(k[4:], v) for k, v in query if k.startswith("or__")]
        shown = {**obj, "type": KINDS[kind][0]}
        if any(str(shown.get(k)) != v for k, v in plain):
            return False
        return not either or any(str(shown.get(k)) == v for k, v in either)


class Handler(BaseHTTPRequestHandler):
    server_version = "stageflow-awx-standin"
    store: Store

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def reply(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", PRODUCT_VERSION)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def route(self) -> tuple[list[str], list[tuple[str, str]]]:
        parts = urlsplit(self.path)
        path = [p for p in parts.path.split("/") if p]
        if path[:2] != ["api", "v2"]:
            return [], []
        return path[2:], parse_qsl(parts.query)

    def page(self, kind: str, objs: list[dict[str, Any]]) -> None:
        results = [self.store.render(kind, o) for o in objs]
        self.reply(200, {"count": len(results), "next": None, "previous": None, "results": results})

    def do_GET(self) -> None:
        path, query = self.route()
        store = self.store
        with store.lock:
            if path in ([], ["ping"], ["config"], ["me"]):
                self.reply(200, {"version": PRODUCT_VERSION})
            elif path == ["unified_job_templates"]:
                found = [(kind, o) for kind in LAUNCHABLE for o in store.objects[kind].values()]
                found = [(kind, o) for kind, o in found if store.matches(kind, o, query)]
                self.reply(
                    200,
                    {
                        "count": len(found),
                        "next": None,
                        "previous": None,
                        "results": [store.render(kind, o) for kind, o in found],
                    },
                )
            elif len(path) == 1 and path[0] in KINDS:
                self.page(path[0], [o for o in store.objects[path[0]].values() if store.matches(path[0], o, query)])
            elif len(path) >= 2 and path[0] in KINDS and path[1].isdigit():
                kind, oid = path[0], int(path[1])
                obj = store.objects[kind].get(oid)
                if obj is None:
                    self.reply(404, {"detail": "Not found."})
                elif len(path) == 2:
                    self.reply(200, store.render(kind, obj))
                elif path[2] == "survey_spec":
                    self.reply(200, store.surveys.get(oid, {}))
                elif path[2] == "workflow_nodes":
                    nodes = store.objects["workflow_job_template_nodes"].values()
                    self.page("workflow_job_template_nodes", [n for n in nodes if n["workflow_job_template"] == oid])
                elif kind == "teams" and path[2] == "roles":
                    held = [r for r in store.objects["roles"] if oid in store.links.get(("roles", r, "teams"), [])]
                    self.page("roles", [store.objects["roles"][rid] for rid in held])
                elif path[2] in KINDS[kind][2]:
                    target = (
                        "notification_templates"
                        if path[2].startswith("notification_templates_")
                        else {
                            "success_nodes": "workflow_job_template_nodes",
                            "failure_nodes": "workflow_job_template_nodes",
                            "always_nodes": "workflow_job_template_nodes",
                        }.get(path[2], path[2])
                    )
                    ids = store.links.get((kind, oid, path[2]), [])
                    self.page(target, [store.objects[target][i] for i in ids if i in store.objects.get(target, {})])
                else:
                    self.reply(404, {"detail": "Not found."})
            else:
                self.reply(404, {"detail": "Not found."})

    def do_POST(self) -> None:
        path = self.route()[0]
        store = self.store
        data = self.body()
        with store.lock:
            store.writes.append(("POST", "/".join(path)))
            if len(path) == 1 and path[0] in KINDS:
                self.reply(201, store.render(path[0], store.create(path[0], data)))
            elif len(path) == 3 and path[0] in KINDS and path[1].isdigit():
                kind, oid, sub = path[0], int(path[1]), path[2]
                if oid not in store.objects[kind]:
                    self.reply(404, {"detail": "Not found."})
                elif sub == "survey_spec":
                    store.surveys[oid] = data
                    self.reply(200, {})
                elif sub == "create_approval_template" and kind == "workflow_job_template_nodes":
                    fields = {k: v for k, v in data.items() if k in APPROVAL_FIELDS}
                    template = store.create("workflow_approval_templates", fields)
                    store.objects[kind][oid]["unified_job_template"] = template["id"]
                    self.reply(201, store.render("workflow_approval_templates", template))
                elif sub == "update" and kind == "projects":
                    update = store.create("project_updates", {"status": "successful", "project": oid})
                    self.reply(202, store.render("project_updates", update))
                elif sub in KINDS[kind][2]:
                    links = store.links.setdefault((kind, oid, sub), [])
                    if data.get("disassociate"):
                        links[:] = [i for i in links if i != data["id"]]
                    elif data["id"] not in links:
                        links.append(data["id"])
                    self.reply(204)
                else:
                    self.reply(404, {"detail": "Not found."})
            else:
                self.reply(404, {"detail": "Not found."})

    def do_PATCH(self) -> None:
        path = self.route()[0]
        store = self.store
        data = self.body()
        with store.lock:
            store.writes.append(("PATCH", "/".join(path)))
            if len(path) == 2 and path[0] in KINDS and path[1].isdigit() and int(path[1]) in store.objects[path[0]]:
                kind, obj = path[0], store.objects[path[0]][int(path[1])]
                if kind == "workflow_approval_templates":
                    data = {k: v for k, v in data.items() if k in APPROVAL_FIELDS}
                if kind == "credentials" and "inputs" in data:  # `$encrypted$` sent back keeps the stored secret
                    data["inputs"] = {
                        k: obj.get("inputs", {}).get(k) if v == ENCRYPTED else v for k, v in data["inputs"].items()
                    }
                obj.update(data)
                self.reply(200, store.render(kind, obj))
            else:
                self.reply(404, {"detail": "Not found."})

    def do_DELETE(self) -> None:
        path = self.route()[0]
        store = self.store
        with store.lock:
            store.writes.append(("DELETE", "/".join(path)))
            if len(path) == 2 and path[0] in KINDS and path[1].isdigit():
                store.objects[path[0]].pop(int(path[1]), None)
                self.reply(204)
            elif len(path) == 3 and path[2] == "survey_spec" and path[1].isdigit():
                store.surveys.pop(int(path[1]), None)
                self.reply(200, {})
            else:
                self.reply(404, {"detail": "Not found."})


class ControllerStandIn:
    """Serves the stand-in on 127.0.0.1 in a thread: `with ControllerStandIn() as awx: awx.url, awx.store`."""

    def __init__(self, port: int = 0) -> None:
        self.store = Store()
        handler = type("BoundHandler", (Handler,), {"store": self.store})
        self.server = ThreadingHTTPServer((HOST, port), handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ControllerStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # Read-back helpers for tests: what a person would look up in the controller's UI.
    def named(self, kind: str, name: str) -> dict[str, Any]:
        return next(o for o in self.store.objects[kind].values() if o.get("name") == name)

    def role_teams(self, kind: str, name: str, role: str) -> list[str]:
        rid = self.named(kind, name)["_roles"][f"{role}_role"]
        teams = self.store.objects["teams"]
        return sorted(teams[t]["name"] for t in self.store.links.get(("roles", rid, "teams"), []))

    def linked(self, kind: str, oid: int, sub: str) -> list[int]:
        return list(self.store.links.get((kind, oid, sub), []))
