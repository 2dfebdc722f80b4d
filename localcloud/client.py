"""A small client for a running local cloud: control API, reset and the request recorder.

Used by the test fixtures, the demo and the benchmarks; it needs only the standard library.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

READ_ONLY_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "BatchGet",
    "Query",
    "Scan",
    "Search",
    "Lookup",
    "Check",
    "Validate",
    "Head",
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Call:
    service: str
    action: str

    @property
    def mutating(self) -> bool:
        if " " in self.action:  # REST protocols: "<METHOD> <path>"
            return self.action.split(" ", 1)[0] not in ("GET", "HEAD")
        return not self.action.startswith(READ_ONLY_PREFIXES)

    def __str__(self) -> str:
        return f"{self.service}:{self.action}"


def service_and_action(authorization: str, target: str, body: str, method: str, path: str) -> tuple[str, str]:
    """Which AWS service and action a signed request calls; ("", "") when it is not an AWS call.

    JSON protocols name the action in X-Amz-Target, query protocols in the form body's Action;
    REST protocols are named by method and path.
    """
    match = _CREDENTIAL_SCOPE.search(authorization)
    if not match:
        return "", ""
    service = match.group(2)
    if target:
        return service, target.rsplit(".", 1)[-1]
    action = parse_qs(body).get("Action", [""])[0] if "Action=" in body else ""
    if action:
        return service, action
    return service, f"{method} {path.split('?', 1)[0]}"


def _call_of(entry: dict[str, Any]) -> Call | None:
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    path = entry.get("url", "/").split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    service, action = service_and_action(
        headers.get("authorization", ""), headers.get("x-amz-target", ""), body, entry.get("method", "GET"), path
    )
    return Call(service, action) if service else None


class LocalCloudClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        if status >= 400:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer

    # -- moto ----------------------------------------------------------------------------------
    def reset(self) -> None:
        self._ok("POST", "/moto-api/reset")
        self.reset_recording()

    def reset_recording(self) -> None:
        self._ok("POST", "/moto-api/recorder/reset-recording")

    def calls(self) -> list[Call]:
        req = urllib.request.Request(self.url + "/moto-api/recorder/download-recording")
        with urllib.request.urlopen(req, timeout=30) as resp:
            lines = resp.read().decode().splitlines()
        calls = (_call_of(json.loads(line)) for line in lines if line.strip())
        return [c for c in calls if c is not None]

    def mutating_calls(self) -> list[Call]:
        return [c for c in self.calls() if c.mutating]

    def call_counts(self) -> Counter[str]:
        return Counter(str(c) for c in self.calls())

    def timings(self, clear: bool = False) -> list[tuple[float, float, str, str]]:
        """(epoch started, seconds, service, action) of each AWS call the cloud answered; `clear` empties the list."""
        answer = self._ok("DELETE" if clear else "GET", "/_localcloud/timings")
        return [tuple(call) for call in answer["calls"]]

    def authorizations(self, clear: bool = False) -> list[dict[str, Any]]:
        """The IAM authorization of each call since the last clear (localcloud/authorize.py), oldest first: {"time",
        "principal" (an ARN, "root", or the refused access key), "action", "resources", "decision" ("allow" or
        "deny"), "reason"}; `clear` empties the list."""
        return self._ok("DELETE" if clear else "GET", "/_localcloud/authorizations")["authorizations"]

    def unresolved(self, clear: bool = False) -> list[dict[str, Any]]:
        """The changes refused because the local cloud could not tell an existing resource they act on (authorize.py,
        resources.py), since the last clear or reset: {"time", "principal", "action", "operation", "resource_types",
        "parameters" (the request's parameter names)}; `clear` empties the list."""
        return self._ok("DELETE" if clear else "GET", "/_localcloud/unresolved")["unresolved"]

    def actions(self, clear: bool = False) -> dict[str, list[str]]:
        """Application id (AWS_SDK_UA_APP_ID) -> the IAM actions its calls needed, implied ones included, since the
        last clear (a reset keeps them); `clear` empties them."""
        return self._ok("DELETE" if clear else "GET", "/_localcloud/actions")["actions"]

    # -- additions -----------------------------------------------------------------------------
    def set_fault(self, name: str, **settings: Any) -> dict[str, Any]:
        return self._ok("PUT", f"/_localcloud/faults/{name}", settings)

    def clear_faults(self) -> dict[str, Any]:
        return self._ok("DELETE", "/_localcloud/faults")

    def faults(self) -> dict[str, Any]:
        return self._ok("GET", "/_localcloud/faults")

    def save_snapshot(self, name: str) -> None:
        """Keep the whole cloud's state under `name` (see localcloud/snapshots.py)."""
        self._ok("PUT", f"/_localcloud/snapshots/{name}")

    def restore_snapshot(self, name: str) -> bool:
        """Put the cloud back to the state saved as `name`; False when there is no such snapshot."""
        return self._snapshot_found(name, "restore")

    def export_snapshot(self, name: str) -> str:
        """Write the saved snapshot `name` to the local cloud's --snapshot-dir, for another local cloud to import; the
        file's path."""
        return self._ok("POST", f"/_localcloud/snapshots/{name}/export")["path"]

    def import_snapshot(self, name: str) -> bool:
        """Read `name` from the local cloud's --snapshot-dir and keep it (restore_snapshot then applies it); False when
        no such file was exported."""
        return self._snapshot_found(name, "import")

    def _snapshot_found(self, name: str, verb: str) -> bool:
        status, answer = self.request("POST", f"/_localcloud/snapshots/{name}/{verb}")
        if status == 404:
            return False
        if status >= 400:
            raise RuntimeError(f"snapshot {name}: {verb} answered {status}: {answer}")
        return True

    def snapshots(self) -> list[str]:
        return self._ok("GET", "/_localcloud/snapshots")["snapshots"]

    def data_snapshots_pending(self, pending: bool) -> None:
        """EBS and RDS snapshots taken from now on stay pending (True); False completes them."""
        self._ok("PUT", "/_localcloud/data-snapshots", {"pending": pending})

    def age_data_snapshots(self, days: float) -> int:
        """Every EBS and RDS snapshot taken `days` earlier than it was; how many."""
        return self._ok("POST", "/_localcloud/data-snapshots/age", {"days": days})["aged"]

    def set_rollout_seconds(self, seconds: float) -> None:
        self._ok("PUT", "/_localcloud/settings", {"rollout_seconds": seconds})

    def master_password_sha256(self, db_instance: str) -> str | None:
        """SHA-256 of the master password the DB instance was created with; None when it has none."""
        status, body = self.request("GET", f"/_localcloud/rds/{db_instance}/master-password")
        return body["sha256"] if status == 200 else None

    def lb_get(self, load_balancer: str, path: str = "/health", port: int = 80) -> tuple[int, Any]:
        return self.request("GET", f"/_localcloud/lb/{load_balancer}{path}?port={port}")


def aws_env(url: str, region: str = "us-east-1", **more: str) -> dict[str, str]:
    """This process's environment with AWS pointed at the local cloud at `url` (fake credentials), for a subprocess."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **more,
    }
    env.pop("AWS_PROFILE", None)
    return env


def spawn(*extra: str, log_path: Path | None = None, cwd: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start `python -m localcloud --port 0 ...` and return the process and its URL once it is ready."""
    root = Path(__file__).resolve().parent.parent
    log = open(log_path, "a", encoding="utf-8") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--port", "0", *extra],
        cwd=cwd or root,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("localcloud ready at "):
            return proc, line.split(" at ", 1)[1].strip()
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the local cloud did not start: {line!r}" + (f"; see {log_path}" if log_path else ""))


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc (Ansible's workers call setsid: a process group does not hold them)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_run(run: subprocess.Popen, whole_run: bool = True) -> list[int]:
    """kill -9 a run: all its processes (a lost host, a killed container), or only the process itself, whose children
    then live on as orphans. Returns the processes left below it (the orphans; none for a whole run)."""
    below = descendants(run.pid)
    for pid in [run.pid, *(below if whole_run else [])]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.wait(timeout=30)
    return [] if whole_run else below


def push_image(ecr: Any, repository: str, tag: str, content: str | None = None) -> str:
    """Do what CI's `docker push` leaves behind in ECR: an image manifest under a tag; returns its digest.

    `content` makes the image distinct (a build of that content); the same content gives the same digest. The layers
    are described, not uploaded: ECS in the local cloud never pulls them.
    """
    import hashlib

    seed = content or f"{repository}:{tag}"
    layer = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
    config = "sha256:" + hashlib.sha256(f"config {seed}".encode()).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470, "digest": config},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478, "digest": layer}
            ],
        },
        sort_keys=True,
    )
    try:
        answer = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)
    except ecr.exceptions.ImageAlreadyExistsException:  # pushed before: the same build
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
        return found[0]["imageDigest"]
    return answer["image"]["imageId"]["imageDigest"]
