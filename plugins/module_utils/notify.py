# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release notifications: a Slack-compatible webhook body and an SNS message for one release event, delivered once,
within a short timeout, never failing the release. What was missed is returned, for the record.

The webhook URL is a secret (Slack's carries its token in the path): it is never put in a message, an error or a
result - only its host is named.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
from typing import Any

from ansible.module_utils.urls import open_url
from ansible_collections.stageflow.aws.plugins.module_utils import release_report as report

EVENTS = ("started", "step", "paused", "succeeded", "failed", "rolled back", "aborted", "approval")
COLOURS = {
    "started": "#439FE0",
    "step": "#439FE0",
    "paused": "warning",
    "approval": "warning",
    "succeeded": "good",
    "rolled back": "warning",
    "failed": "danger",
    "aborted": "danger",
}
ICONS = {
    "started": ":rocket:",
    "step": ":arrow_right:",
    "paused": ":double_vertical_bar:",
    "approval": ":raised_hand:",
    "succeeded": ":white_check_mark:",
    "rolled back": ":leftwards_arrow_with_hook:",
    "failed": ":x:",
    "aborted": ":octagonal_sign:",
}


class NotifyError(Exception):
    pass


def check_url(url: str) -> str:
    """The webhook URL's host, once it is an http(s) URL with one; ValueError naming what is wrong, never the URL."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("the webhook URL must be an https:// (or http://) URL with a host")
    return parts.hostname


def headline(event: str, release: dict[str, Any]) -> str:
    """One line for people: what happened to which release where."""
    env = release.get("environment") or release.get("target") or "?"
    what = f"{release.get('kind', 'release')} {release.get('note', '')}".strip()
    source = f" from {release['source']}" if release.get("kind") == "promote" and release.get("source") else ""
    by = f" by {release['who']}" if release.get("who") else ""
    if event == "started":
        return f"{what}{source} to {env} started{by}"
    if event == "step":
        step = release.get("step") or {}
        gate = "gate passed" if step.get("passed") else "gate FAILED"
        return (
            f"{what} to {env}: {step.get('percent', '?')}% on the new colour, {gate} after {step.get('seconds', '?')}s"
        )
    if event == "paused":
        return (
            f"{what} to {env} is paused at {(release.get('step') or {}).get('percent', '?')}% and waits for approval: "
            f"ansible-playbook playbooks/resume.yml -e env={env}"
        )
    if event == "approval":
        return f"{what}{source} to {env} waits for approval"
    if event == "succeeded":
        return f"{what}{source} to {env} succeeded in {release.get('duration_seconds', '?')}s"
    if event == "rolled back" and release.get("kind") == "rollback" and not release.get("failure"):
        return f"{env} was rolled back to {release.get('note', '?')} in {release.get('duration_seconds', '?')}s{by}"
    if event == "rolled back":
        return f"{what} to {env} failed and was rolled back: {release.get('failure', '')}"
    if event == "failed" and release.get("outcome") == "started":
        return (
            f"{what} to {env} FAILED and its restore did not finish: {release.get('failure', '')} - run "
            f'ansible-playbook playbooks/abort.yml -e env={env} -e reason="..."'
        )
    if event == "failed":
        return f"{what} to {env} FAILED: {release.get('failure', '')}"
    if event == "aborted":
        return f"{env}: release {release.get('id', '?')} was aborted{by}: {release.get('reason', '')}"
    return f"{what} to {env}: {event}"


def fields(event: str, release: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {
            "title": "Environment",
            "value": str(release.get("environment") or release.get("target") or ""),
            "short": True,
        },
        {"title": "Release", "value": str(release.get("id", "")), "short": True},
    ]
    for service in release.get("services") or []:
        images = service.get("images") or {}
        out.append(
            {
                "title": f"Service {service.get('service', '')}",
                "value": "\n".join(
                    f"{name}: {report.short_image(i.get('before', ''))} -> {report.short_image(i.get('after', ''))}"
                    for name, i in images.items()
                )
                or "unchanged",
                "short": False,
            }
        )
    if release.get("restored") and event in ("failed", "rolled back", "aborted"):
        out.append({"title": "Restored", "value": "; ".join(release["restored"]), "short": False})
    link = (release.get("report") or {}).get("s3")
    if link and event in ("succeeded", "failed", "rolled back", "aborted"):
        out.append({"title": "Report", "value": str(link), "short": False})
    return out


PAYLOAD_FIELDS = (
    "id",
    "kind",
    "note",
    "who",
    "source",
    "target",
    "environment",
    "strategy",
    "outcome",
    "failure",
    "restored",
    "reason",
    "step",
    "steps_planned",
    "started_at",
    "finished_at",
    "duration_seconds",
    "live_colour",
)


def payload_of(release: dict[str, Any]) -> dict[str, Any]:
    """What a notification carries of a release: the allow-listed fields, each service's images before and after,
    and where the report is - never the restore ARNs or the AWS identity of its record."""
    data = {k: release[k] for k in PAYLOAD_FIELDS if k in release}
    data["services"] = [
        {
            "service": s.get("service", ""),
            "images": {
                c: {"before": i.get("before", ""), "after": i.get("after", "")}
                for c, i in (s.get("images") or {}).items()
            },
        }
        for s in release.get("services") or []
    ]
    report = release.get("report") or {}
    if report.get("s3"):
        data["report"] = report["s3"]
    return data


def body(event: str, release: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook body: text, one attachment with fields, and message metadata with the event as data
    (for receivers other than Slack)."""
    text = f"{ICONS.get(event, '')} {headline(event, release)}".strip()
    return {
        "text": text,
        "attachments": [{"color": COLOURS.get(event, "#439FE0"), "fallback": text, "fields": fields(event, release)}],
        "metadata": {
            "event_type": f"stageflow_release_{event.replace(' ', '_')}",
            "event_payload": {"event": event, **payload_of(release)},
        },
    }


def _post_once(url: str, data: bytes, timeout: float, outcome: dict[str, Any]) -> None:
    try:
        answer = open_url(
            url,
            data=data,
            headers={"Content-Type": "application/json"},
            method="POST",
            timeout=timeout,
            follow_redirects="none",
        )
        answer.read(1024)
        outcome["ok"] = True
    except urllib.error.HTTPError as exc:
        outcome["why"] = f"answered HTTP {exc.code}"
    except Exception as exc:  # a malformed answer (http.client's errors), a reset, a bad name: all misses
        reason = getattr(exc, "reason", exc)
        outcome["why"] = f"could not be reached ({type(reason).__name__})"


def post(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST the JSON body once; NotifyError (naming the host only) when it fails or has not answered within timeout -
    a hard deadline for the whole request, name lookup and a trickling answer included (the POST runs in a daemon
    thread that is left behind if it overruns)."""
    host = check_url(url)
    data = json.dumps(payload, default=str).encode("utf-8")
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=_post_once, args=(url, data, timeout, outcome), daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise NotifyError(f"the webhook at {host} did not answer within {timeout:g}s")
    if not outcome.get("ok"):
        raise NotifyError(f"the webhook at {host} {outcome.get('why', 'failed')}")


def deliver(
    event: str,
    release: dict[str, Any],
    webhook_url: str = "",
    sns: Any = None,
    topic_arn: str = "",
    timeout: float = 5.0,
    skip_webhook: bool = False,
) -> dict[str, Any]:
    """Send the event to the webhook and the topic, once each. Returns the text, where it went, and what was missed
    (to, why) - a miss never raises."""
    payload = body(event, release)
    result: dict[str, Any] = {"event": event, "text": payload["text"], "delivered": [], "missed": []}
    if webhook_url:
        if skip_webhook:
            result["missed"].append(
                {"to": "webhook", "why": "skipped: the webhook missed an earlier event of this release"}
            )
        else:
            try:
                post(webhook_url, payload, timeout)
                result["delivered"].append("webhook")
            except (NotifyError, ValueError) as exc:
                result["missed"].append({"to": "webhook", "why": str(exc)})
            except Exception as exc:  # never a reason to fail a release
                result["missed"].append({"to": "webhook", "why": f"the webhook failed ({type(exc).__name__})"})
    if topic_arn and sns is not None:
        try:
            sns.publish(
                TopicArn=topic_arn,
                Subject=" ".join(headline(event, release).encode("ascii", "ignore").decode().split())[:99]
                or "Stageflow",
                Message=json.dumps(
                    {"event": event, "text": payload["text"], "release": payload_of(release)}, default=str
                ),
                MessageAttributes={"event": {"DataType": "String", "StringValue": event}},
            )
            result["delivered"].append("sns")
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            result["missed"].append({"to": "sns", "why": f"SNS publish to {topic_arn} failed: {code}"})
    return result


def webhook_from_secret(secretsmanager: Any, secret_id: str) -> str:
    """The webhook URL kept in Secrets Manager: the secret's text, or its JSON's `url` (or `webhook_url`) key."""
    text = secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict):
        return str(data.get("url") or data.get("webhook_url") or "")
    return str(data)


SKIPPED = "skipped: the webhook missed an earlier event of this release"


def send(
    client: Any,
    event: str,
    release: dict[str, Any],
    webhook_url: str = "",
    webhook_secret: str = "",
    sns_topic_arn: str = "",
    timeout: float = 5.0,
    skip_webhook: bool = False,
) -> dict[str, Any]:
    """deliver(), with the webhook URL read from Secrets Manager when only its secret is named; client(service) gives
    a boto3 client (a module's module.client)."""
    missed: list[dict[str, str]] = []
    url = webhook_url or ""
    quick = {"connect_timeout": timeout, "read_timeout": timeout, "retries": {"max_attempts": 1, "mode": "standard"}}
    if not url and webhook_secret:
        if skip_webhook:
            missed.append({"to": "webhook", "why": SKIPPED})
        else:
            try:
                url = webhook_from_secret(client("secretsmanager", config=quick), webhook_secret)
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                missed.append({"to": "webhook", "why": f"the secret {webhook_secret} could not be read: {code}"})
    try:
        sns = client("sns", config=quick) if sns_topic_arn else None
    except Exception as exc:  # never a reason to fail a release
        sns = None
        missed.append({"to": "sns", "why": f"no SNS client ({type(exc).__name__})"})
    result = deliver(event, release, url, sns, sns_topic_arn, timeout, skip_webhook)
    result["missed"] = missed + result["missed"]
    return result


def wanted(options: dict[str, Any] | None) -> bool:
    """Whether a module's notify option names any destination."""
    return bool(options) and any(options.get(k) for k in ("webhook_url", "webhook_secret", "sns_topic_arn"))
