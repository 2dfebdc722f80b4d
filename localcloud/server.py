"""The local cloud: moto's server in-process, plus what moto lacks (see docs/localcloud.md)."""

from __future__ import annotations

import functools
import io
import json
import os
import random
import re
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import botocore.exceptions
import botocore.session
from moto.moto_api import recorder
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from . import fidelity, health
from .client import service_and_action
from .ecs import EcsEmulator, Settings
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


@functools.cache
def _protocol(signing_name: str) -> str:
    """The protocol of the service signed as `signing_name`, when botocore's model has that name."""
    try:
        return botocore.session.get_session().get_service_model(signing_name).metadata.get("protocol", "")
    except botocore.exceptions.UnknownServiceError:
        return ""


def throttling_response(service: str, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The error each AWS protocol returns when a call is throttled."""
    request_id = str(uuid.uuid4())
    content_type = environ.get("CONTENT_TYPE", "")
    if "json" in content_type or _protocol(service) == "rest-json":
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return (
            "400 Bad Request",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", "ThrottlingException"),
                ("x-amzn-RequestId", request_id),
            ],
            body,
        )
    if service == "ec2":
        body = (
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        return "503 Service Unavailable", [("Content-Type", "text/xml")], body
    if service == "s3":
        body = (
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return "503 Slow Down", [("Content-Type", "application/xml")], body
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return "400 Bad Request", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body


class LocalCloud:
    """Start, use and stop one local cloud. One per process: moto's state is global."""

    def __init__(self, port: int = 0, rollout_seconds: float = 3.0, seed: int = 0) -> None:
        # AWS accounts have the AWS-managed IAM policies (AmazonECSTaskExecutionRolePolicy ...);
        # moto loads them only on request.
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        self.faults = Faults()
        self.settings = Settings(rollout_seconds=rollout_seconds)
        self.emulator = EcsEmulator(self.faults, self.settings)
        self.emulator.install()
        self.snapshots = Snapshots(self.emulator)
        fidelity.install()
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
                status, headers, payload = throttling_response(service, environ)
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
        if parts == ["timings"] and method in ("GET", "DELETE"):
            calls = [list(t) for t in self.timings]
            if method == "DELETE":
                self.timings.clear()
            return self._json(start_response, 200, {"calls": calls})
        if parts[0] == "snapshots":
            return self._control_snapshots(method, parts[1:], start_response)
        if parts[0] == "faults":
            return self._control_faults(method, parts[1:], body, start_response)
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
            status, answer = health.answer(self.emulator, self._rng, parts[1], "/" + "/".join(parts[2:]), port)
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
                    "GET /_localcloud/snapshots",
                    "PUT|DELETE /_localcloud/snapshots/<name>",
                    "POST /_localcloud/snapshots/<name>/restore",
                    "PUT /_localcloud/faults/<name>",
                    "DELETE /_localcloud/faults/<name>",
                    "PUT /_localcloud/settings",
                    "GET /_localcloud/lb/<load-balancer-name>/<path>",
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
        return self._json(start_response, 405, {"error": f"unknown snapshot request {method} {'/'.join(parts)}"})

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
