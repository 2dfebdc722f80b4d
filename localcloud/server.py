"""The local cloud: moto's server in-process, plus what moto lacks (see docs/localcloud.md)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.core.request import Request as MotoRequest
from moto.moto_api import recorder
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.rds.models import rds_backends
from werkzeug.serving import BaseWSGIServer, make_server

from . import backup_selections, data_snapshots, docdb, fidelity, health, strict
from .authorize import Authorizer
from .client import service_and_action
from .docdb_elastic import emulator as docdb_elastic
from .docdb_elastic import password_digest as elastic_password_digest
from .ecs import EcsEmulator, Settings
from .errors import Answer, error_response, speaks_json
from .faults import FaultError, Faults
from .snapshots import Snapshots

HOST = "127.0.0.1"
CONTROL_PREFIX = "/_localcloud/"
SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9_.,-]{1,100}$")

StartResponse = Callable[..., Any]


class PortInUseError(RuntimeError):
    pass


def request_service_and_action(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """Which AWS service and action a signed request calls ('' when it is not an AWS call)."""
    form = body.decode("utf-8", "replace") if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") else ""
    return service_and_action(
        environ.get("HTTP_AUTHORIZATION", ""),
        environ.get("HTTP_X_AMZ_TARGET", ""),
        form,
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("PATH_INFO", "/"),
    )


def throttling_response(service: str, environ: dict[str, Any]) -> Answer:
    """The error each AWS protocol returns when a call is throttled."""
    if speaks_json(service, environ):
        return error_response(service, environ, "400 Bad Request", "ThrottlingException", "Rate exceeded")
    if service == "ec2":
        return error_response(
            service, environ, "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."
        )
    if service == "s3":
        return error_response(service, environ, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
    return error_response(service, environ, "400 Bad Request", "Throttling", "Rate exceeded")


def _master_password_digest(identifier: str) -> str | None:
    """SHA-256 of the master password a DB instance, DocumentDB cluster or elastic cluster was created with (for
    tests; the password itself never leaves)."""
    for regions in rds_backends.values():
        for backend in regions.values():
            database = backend.databases.get(identifier)
            password = getattr(database, "_master_user_password", None)  # moto keeps it; its property refuses
            cluster = backend.clusters.get(identifier)
            password = password or getattr(cluster, "_master_user_password", None)
            if password:
                return hashlib.sha256(password.encode()).hexdigest()
    return elastic_password_digest(identifier)


class _AdditionsState:
    """What a snapshot keeps besides moto's backends: the ECS emulator's targets and the elastic clusters."""

    def __init__(self, emulator: EcsEmulator) -> None:
        self.emulator = emulator

    def snapshot_state(self) -> tuple[Any, Any]:
        return self.emulator.snapshot_state(), docdb_elastic.snapshot_state()

    def restore_state(self, state: Any) -> None:
        ecs, elastic = state
        self.emulator.restore_state(ecs)
        docdb_elastic.restore_state(elastic)


class LocalCloud:
    """Start, use and stop one local cloud. One per process: moto's state is global."""

    def __init__(
        self, port: int = 0, rollout_seconds: float = 3.0, seed: int = 0, snapshot_dir: str | None = None
    ) -> None:
        # AWS accounts have the AWS-managed IAM policies (AmazonECSTaskExecutionRolePolicy ...);
        # moto loads them only on request.
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        self.faults = Faults()
        self.settings = Settings(rollout_seconds=rollout_seconds)
        self.emulator = EcsEmulator(self.faults, self.settings)
        self.emulator.install()
        self.snapshots = Snapshots(_AdditionsState(self.emulator))
        self.snapshot_dir = snapshot_dir  # where snapshots are exported to and imported from; None: neither
        self.authorizer = Authorizer()
        fidelity.install()
        backup_selections.install()
        data_snapshots.install()
        docdb.install()
        self.docdb_elastic = docdb_elastic
        # An elastic cluster is CREATING, UPDATING or DELETING for a while (minutes on AWS), then settles: here for the
        # rollout time, at most a second, so that the modules' waits are real and cheap.
        self.docdb_elastic.settle_seconds = min(rollout_seconds, 1.0)
        self._requested_port = port
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        # (epoch started, seconds, service, action) of each AWS call, for scripts/profile.py; bounded
        self.timings: deque[tuple[float, float, str, str]] = deque(maxlen=200_000)
        fd, self.recording_path = tempfile.mkstemp(prefix="localcloud-recording-", suffix=".jsonl")
        os.close(fd)
        recorder._location = self.recording_path
        recorder.start_recording()

    # -- process life cycle --------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> str:
        message = (
            f"port {self._requested_port} on {HOST} is already in use; "
            "stop whatever listens there, or pass --port 0 for a free port"
        )
        if self._requested_port:
            with socket.socket() as probe:  # werkzeug would exit the process itself; say why instead
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((HOST, self._requested_port))
                except OSError as exc:
                    raise PortInUseError(message) from exc
        try:
            self._server = make_server(
                HOST, self._requested_port, self, threaded=True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as exc:
            raise PortInUseError(message) from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="localcloud", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if os.path.exists(self.recording_path):
            os.unlink(self.recording_path)

    def reset(self) -> None:
        """What /moto-api/reset does to moto, done to the additions as well."""
        self.faults.reset()
        self.emulator.reset()
        self.authorizer.reset()
        data_snapshots.reset()
        self.docdb_elastic.reset()
        self._rng = random.Random(self._seed)

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        with self._lock:
            if path.startswith(CONTROL_PREFIX):
                return self._control(environ, body, start_response)
            service, action = request_service_and_action(environ, body)
            started, clock = time.time(), time.perf_counter()
            if service and self.faults.should_throttle(service):
                refused = throttling_response(service, environ)
            else:
                refused = self.authorizer.refusal(environ, body)
                if refused is None and service:
                    refused = strict.refusal(environ, body, service, action)
            if refused is not None:
                status, headers, payload = refused
                start_response(status, [*headers, ("Content-Length", str(len(payload)))])
                return [payload]
            elastic = self.docdb_elastic.answer(environ, body) if service == "docdb-elastic" else None
            if elastic is not None:
                recorder._record_request(MotoRequest(environ), body)  # as moto records the calls it answers
                if service:
                    self.timings.append((started, time.perf_counter() - clock, service, action))
                status, headers, payload = elastic
                start_response(status, [*headers, ("Content-Length", str(len(payload)))])
                return [payload]
            self.emulator.reconcile()
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                captured["status"], captured["headers"] = status, headers
                return lambda data: None

            result = self._moto_app(environ, capture)
            try:
                payload = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if service:
                self.timings.append((started, time.perf_counter() - clock, service, action))
            if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                self.reset()
                self.emulator.pin_task_states()
        start_response(captured["status"], captured["headers"])
        return [payload]

    def _json(self, start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
        payload = health.to_json(body)
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            405: "Method Not Allowed",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }.get(status, "Status")
        start_response(
            f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    def _control(self, environ: dict[str, Any], body: bytes, start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        parts = [p for p in environ.get("PATH_INFO", "")[len(CONTROL_PREFIX) :].split("/") if p]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if not parts or parts == ["status"]:
            return self._json(
                start_response,
                200,
                {
                    "status": "ready",
                    "url": self.url,
                    "rollout_seconds": self.settings.rollout_seconds,
                    "faults": self.faults.as_dict(),
                },
            )
        if parts == ["actions"] and method in ("GET", "DELETE"):
            return self._json(
                start_response, 200, {"actions": self.authorizer.recorded_actions(clear=method == "DELETE")}
            )
        if parts == ["authorizations"] and method in ("GET", "DELETE"):
            return self._json(
                start_response, 200, {"authorizations": self.authorizer.decisions(clear=method == "DELETE")}
            )
        if parts == ["unresolved"] and method in ("GET", "DELETE"):
            return self._json(
                start_response, 200, {"unresolved": self.authorizer.unresolvable(clear=method == "DELETE")}
            )
        if parts == ["timings"] and method in ("GET", "DELETE"):
            calls = [list(t) for t in self.timings]
            if method == "DELETE":
                self.timings.clear()
            return self._json(start_response, 200, {"calls": calls})
        if parts[0] == "snapshots":
            return self._control_snapshots(method, parts[1:], start_response)
        if parts[0] == "faults":
            return self._control_faults(method, parts[1:], body, start_response)
        if parts[0] == "data-snapshots":
            return self._control_data_snapshots(method, parts[1:], body, start_response)
        if parts[0] == "rds" and len(parts) == 3 and parts[2] == "master-password" and method == "GET":
            digest = _master_password_digest(parts[1])
            if digest is None:
                return self._json(start_response, 404, {"error": f"no DB instance '{parts[1]}' with a master password"})
            return self._json(start_response, 200, {"identifier": parts[1], "sha256": digest})
        if parts[0] == "settings" and method in ("PUT", "POST"):
            try:
                data = json.loads(body or b"{}")
                seconds = data["rollout_seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return self._json(start_response, 400, {"error": 'settings need {"rollout_seconds": <number >= 0>}'})
            self.settings.rollout_seconds = float(seconds)
            return self._json(start_response, 200, {"rollout_seconds": self.settings.rollout_seconds})
        if parts[0] == "lb" and len(parts) >= 2 and method in ("GET", "HEAD"):
            self.emulator.reconcile()
            try:
                port = int(query.get("port", ["80"])[0])
            except ValueError:
                return self._json(start_response, 400, {"error": "'port' must be a whole number"})
            status, answer = health.answer(
                self.emulator,
                self._rng,
                parts[1],
                "/" + "/".join(parts[2:]),
                port,
                health.requested_host(environ.get("HTTP_HOST", "")),
            )
            return self._json(start_response, status, answer)
        return self._json(
            start_response,
            404,
            {
                "error": f"unknown control path '{environ.get('PATH_INFO')}' for {method}",
                "paths": [
                    "GET /_localcloud/status",
                    "GET /_localcloud/faults",
                    "GET|DELETE /_localcloud/timings",
                    "GET|DELETE /_localcloud/authorizations",
                    "GET|DELETE /_localcloud/actions",
                    "GET|DELETE /_localcloud/unresolved",
                    "GET /_localcloud/snapshots",
                    "PUT|DELETE /_localcloud/snapshots/<name>",
                    "POST /_localcloud/snapshots/<name>/restore|export|import",
                    "PUT /_localcloud/faults/<name>",
                    "DELETE /_localcloud/faults/<name>",
                    "PUT /_localcloud/settings",
                    "GET|PUT /_localcloud/data-snapshots",
                    "POST /_localcloud/data-snapshots/age",
                    "GET /_localcloud/rds/<db-instance-identifier>/master-password",
                    "GET /_localcloud/lb/<load-balancer name, DNS name or Route 53 name>/<path>",
                ],
            },
        )

    def _control_snapshots(self, method: str, parts: list[str], start_response: StartResponse) -> list[bytes]:
        if not parts and method == "GET":
            return self._json(start_response, 200, {"snapshots": self.snapshots.names()})
        if not parts or not SNAPSHOT_NAME.match(parts[0]):
            return self._json(start_response, 400, {"error": "a snapshot name is 1 to 100 of A-Z a-z 0-9 _ . , -"})
        name = parts[0]
        if parts[1:] == [] and method == "PUT":
            self.snapshots.save(name)
            return self._json(start_response, 200, {"saved": name})
        if parts[1:] == [] and method == "DELETE":
            self.snapshots.delete(name)
            return self._json(start_response, 200, {"deleted": name})
        if parts[1:] == ["restore"] and method == "POST":
            try:
                self.snapshots.restore(name)
            except KeyError:
                return self._json(start_response, 404, {"error": f"no snapshot named '{name}'"})
            return self._json(start_response, 200, {"restored": name})
        if parts[1:] in (["export"], ["import"]) and method == "POST":
            return self._snapshot_file(name, parts[1], start_response)
        return self._json(start_response, 405, {"error": f"unknown snapshot request {method} {'/'.join(parts)}"})

    def _snapshot_file(self, name: str, verb: str, start_response: StartResponse) -> list[bytes]:
        """Export the saved snapshot `name` to <snapshot dir>/<name>.pickle, or import it from there as `name`."""
        if not self.snapshot_dir:
            return self._json(
                start_response, 409, {"error": "start the local cloud with --snapshot-dir to share snapshots"}
            )
        path = os.path.join(self.snapshot_dir, f"{name}.pickle")
        try:
            if verb == "export":
                return self._json(
                    start_response, 200, {"exported": name, "path": path, "bytes": self.snapshots.export(name, path)}
                )
            self.snapshots.import_(name, path)
        except KeyError:
            return self._json(start_response, 404, {"error": f"no snapshot named '{name}'"})
        except FileNotFoundError:
            return self._json(start_response, 404, {"error": f"no exported snapshot {path}"})
        return self._json(start_response, 200, {"imported": name, "path": path})

    def _control_data_snapshots(
        self, method: str, parts: list[str], body: bytes, start_response: StartResponse
    ) -> list[bytes]:
        """PUT /_localcloud/data-snapshots {"pending": bool}; POST /_localcloud/data-snapshots/age {"days": N}."""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        if not parts and method == "PUT" and isinstance(data, dict) and isinstance(data.get("pending"), bool):
            data_snapshots.set_pending(data["pending"])
            return self._json(start_response, 200, data_snapshots.settings())
        if not parts and method == "GET":
            return self._json(start_response, 200, data_snapshots.settings())
        days = data.get("days") if isinstance(data, dict) else None
        number = isinstance(days, (int, float)) and not isinstance(days, bool)
        if parts == ["age"] and method == "POST" and number and days > 0:
            return self._json(start_response, 200, {"aged": data_snapshots.age(days), "days": days})
        return self._json(
            start_response,
            400,
            {"error": 'data-snapshots takes PUT {"pending": true|false} or POST age {"days": <number > 0>}'},
        )

    def _control_faults(self, method: str, parts: list[str], body: bytes, start_response: StartResponse) -> list[bytes]:
        if not parts:
            if method == "GET":
                return self._json(start_response, 200, self.faults.as_dict())
            if method == "DELETE":
                self.faults.reset()
                return self._json(start_response, 200, self.faults.as_dict())
            return self._json(start_response, 405, {"error": "use GET or DELETE on /_localcloud/faults"})
        name = parts[0]
        try:
            if method in ("PUT", "POST"):
                try:
                    data = json.loads(body or b"{}")
                except ValueError as exc:
                    raise FaultError(f"the body is not valid JSON: {exc}") from exc
                return self._json(start_response, 200, self.faults.set(name, data))
            if method == "DELETE":
                return self._json(start_response, 200, self.faults.clear(name))
        except FaultError as exc:
            return self._json(start_response, 400, {"error": str(exc)})
        return self._json(start_response, 405, {"error": f"use PUT or DELETE on /_localcloud/faults/{name}"})
