"""Progress lines, notifications, the status text and the HTML pages: pure logic, no cloud."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from plugins.module_utils import html_report, notify, progress, status

DIGEST = "sha256:" + "ab" * 32
RECORD = {
    "id": "promote-prod-20261128T101500-01234",
    "kind": "promote",
    "note": "staging -> prod",
    "source": "staging",
    "target": "prod",
    "who": "alice",
    "outcome": "rolled back",
    "failure": "gate failed: prod-app-green is not all healthy",
    "restored": ["weights to prod-app-blue 100, prod-app-green 0"],
    "services": [
        {
            "service": "prod-app-service-green",
            "images": {"server": {"before": "r/prod-server:initial", "after": f"123.dkr.ecr/r/dev-server@{DIGEST}"}},
        }
    ],
    "steps": [
        {"percent": 10, "passed": True, "seconds": 300.0, "gate": "ok"},
        {"percent": 50, "passed": False, "seconds": 42.5, "gate": "unhealthy"},
    ],
}


def test_progress_writes_at_most_one_line_per_interval_and_never_fails(tmp_path) -> None:
    now = [0.0]
    path = tmp_path / "progress.jsonl"
    write = progress.Progress("ecs_promote c", path=str(path), every=10, clock=lambda: now[0], wall=lambda: 5.0)
    assert write("first") and not write("too soon")
    now[0] = 10.0
    assert write("second") and write("forced", force=True)
    assert [json.loads(line)["message"] for line in path.read_text().splitlines()] == ["first", "second", "forced"]
    assert not progress.Progress("x", path=str(tmp_path / "missing" / "dir" / "file"))("lost")  # unwritable: no error
    assert not progress.Progress("x", path="")("nowhere")
    assert progress.seconds_left(3725) == "62m05s left" and progress.seconds_left(-3) == "0s left"


def test_the_webhook_body_is_slacks_with_the_event_as_data() -> None:
    body = notify.body("rolled back", RECORD)
    assert body["text"].startswith(
        ":leftwards_arrow_with_hook: promote staging -> prod to prod failed and was rolled back"
    )
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields["Environment"] == "prod" and fields["Restored"] == RECORD["restored"][0]
    assert fields["Service prod-app-service-green"] == f"server: prod-server:initial -> dev-server@{DIGEST[:19]}"
    assert body["metadata"]["event_type"] == "stageflow_release_rolled_back"
    assert body["metadata"]["event_payload"]["id"] == RECORD["id"]
    step = notify.headline("step", {**RECORD, "step": {"percent": 10, "passed": True, "seconds": 300}})
    assert step == "promote staging -> prod to prod: 10% on the new colour, gate passed after 300s"


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "", "https:///nohost"])
def test_a_webhook_url_that_is_not_http_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        notify.check_url(url)
    assert (url or "§") not in str(refused.value)


class _Hook(BaseHTTPRequestHandler):
    status = 200
    got: list[dict] = []

    def do_POST(self) -> None:
        _Hook.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.got, _Hook.status = [], 200
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T/B/secret-token"
    server.shutdown()
    server.server_close()


def test_delivery_is_tried_once_and_a_miss_is_returned_not_raised(hook: str) -> None:
    sent = notify.deliver("started", RECORD, webhook_url=hook, timeout=2)
    assert sent["delivered"] == ["webhook"] and sent["missed"] == [] and _Hook.got[0]["text"] == sent["text"]
    _Hook.status = 500
    missed = notify.deliver("failed", RECORD, webhook_url=hook, timeout=2)
    assert missed["missed"] == [{"to": "webhook", "why": "the webhook at 127.0.0.1 answered HTTP 500"}]
    skipped = notify.deliver("succeeded", RECORD, webhook_url=hook, skip_webhook=True)
    assert skipped["missed"][0]["why"].startswith("skipped") and len(_Hook.got) == 2
    down = notify.deliver("started", RECORD, webhook_url="http://127.0.0.1:9/secret-path", timeout=1)
    assert down["missed"][0]["why"] == "the webhook at 127.0.0.1 could not be reached (ConnectionRefusedError)"
    assert "secret-path" not in json.dumps(down)


def test_a_webhook_that_answers_garbage_or_trickles_is_a_miss_within_the_timeout() -> None:
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    done = threading.Event()

    def answer(reply: bytes, pause: float) -> None:
        conn = server.accept()[0]
        conn.recv(65536)
        try:
            for byte in reply:
                if done.is_set():
                    break
                conn.send(bytes([byte]))
                done.wait(pause)  # not time.sleep: other tests replace it, and this thread must not outlive its test
        except OSError:  # the client gave up (its deadline)
            pass
        conn.close()

    garbage = threading.Thread(target=answer, args=(b"garbage\r\n\r\n", 0), daemon=True)
    garbage.start()
    missed = notify.deliver("started", RECORD, webhook_url=f"http://127.0.0.1:{port}/x", timeout=2)
    assert missed["missed"][0]["why"].startswith("the webhook at 127.0.0.1 could not be reached (")
    trickle = threading.Thread(target=answer, args=(b"HTTP/1.1 200 OK\r\n" * 20, 0.2), daemon=True)
    trickle.start()
    began = time.monotonic()
    slow = notify.deliver("started", RECORD, webhook_url=f"http://127.0.0.1:{port}/x", timeout=1)
    assert time.monotonic() - began < 1.5
    assert slow["missed"] == [{"to": "webhook", "why": "the webhook at 127.0.0.1 did not answer within 1s"}]
    done.set()
    for thread in (garbage, trickle):
        thread.join(timeout=5)
    server.close()


def test_the_payload_carries_no_arn_of_the_restore_nor_the_identity() -> None:
    record = {
        **RECORD,
        "restore": {"rules": [{"rule_arn": "arn:aws:elasticloadbalancing:x"}]},
        "aws_identity": "arn:aws:sts::1:x",
    }
    payload = notify.body("failed", record)["metadata"]["event_payload"]
    assert "restore" not in payload and "aws_identity" not in payload and payload["restored"] == RECORD["restored"]
    assert (
        notify.headline(
            "rolled back", {"kind": "rollback", "note": "promote-prod-1", "target": "prod", "duration_seconds": 3}
        )
        == "prod was rolled back to promote-prod-1 in 3s"
    )
    assert "abort.yml -e env=prod" in notify.headline("failed", {**RECORD, "outcome": "started"})


def test_sns_is_told_the_event_as_json_and_its_failure_is_a_miss() -> None:
    class SNS:
        def __init__(self, fail: bool) -> None:
            self.fail, self.sent = fail, []

        def publish(self, **kwargs):
            if self.fail:
                raise RuntimeError("no topic")
            self.sent.append(kwargs)

    good = SNS(False)
    result = notify.deliver("aborted", {**RECORD, "reason": "killed"}, sns=good, topic_arn="arn:aws:sns:r:1:t")
    assert result["delivered"] == ["sns"] and json.loads(good.sent[0]["Message"])["event"] == "aborted"
    assert len(good.sent[0]["Subject"]) < 100 and "\n" not in good.sent[0]["Subject"]
    bad = notify.deliver("aborted", RECORD, sns=SNS(True), topic_arn="arn:aws:sns:r:1:t")
    assert bad["missed"] == [{"to": "sns", "why": "SNS publish to arn:aws:sns:r:1:t failed: RuntimeError"}]


def test_the_webhook_url_may_come_from_a_secret_as_text_or_json() -> None:
    class Secrets:
        def __init__(self, text: str) -> None:
            self.text = text

        def get_secret_value(self, SecretId: str):
            return {"SecretString": self.text}

    assert notify.webhook_from_secret(Secrets("https://h/x\n"), "s") == "https://h/x"
    assert notify.webhook_from_secret(Secrets('{"url": "https://h/y"}'), "s") == "https://h/y"


def test_chart_points_follow_the_steps_over_time() -> None:
    points = html_report.chart_points(RECORD["steps"])
    assert [(p["start"], p["at"], p["before"], p["percent"], p["passed"]) for p in points] == [
        (0.0, 300.0, 0, 10, True),
        (300.0, 342.5, 10, 50, False),
    ]


def test_the_release_page_escapes_what_it_shows_and_carries_its_data() -> None:
    page = html_report.release_html({**RECORD, "note": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("class='step-row'") == 2 and "weights to prod-app-blue 100" in page
    data = page.split('<script type="application/json" id="steps-data">', 1)[1].split("</script>", 1)[0]
    assert [p["percent"] for p in json.loads(data)] == [10, 50]
    data = page.split('id="release-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and "\\u003cscript\\u003e" in data  # no text in it can end or change its script element


def test_the_status_text_and_page_say_what_is_missing() -> None:
    missing = {
        "environment": "prod",
        "strategy": "canary",
        "live_colour": "",
        "drift": "not provisioned",
        "drift_detail": "load balancer prod-alb",
        "services": [
            {
                "name": "app",
                "balanced": True,
                "default": True,
                "routes": [],
                "ecs_services": [{"colour": "blue", "ecs_service": "prod-svc-blue", "missing": True}],
            }
        ],
        "alarms": {"count": 0, "in_alarm": []},
        "lock": {},
        "releases": [],
        "missing": ["load balancer prod-alb", "ECS service prod-svc-blue"],
    }
    text = status.text([missing])
    assert "prod  canary  drift: not provisioned  lock: free" in text
    assert "not provisioned: load balancer prod-alb, ECS service prod-svc-blue" in text
    assert "blue  prod-svc-blue: missing (not provisioned)" in text
    page = html_report.status_html([missing], None)
    assert "missing (not provisioned)" in page and "Comparison matrix" not in page


def test_the_progress_callback_prints_what_the_modules_write_while_their_task_runs(monkeypatch) -> None:
    import os
    import time

    from ansible_collections.stageflow.aws.plugins.callback.progress import CallbackModule

    monkeypatch.delenv(progress.FILE_VARIABLE, raising=False)
    shown: list[str] = []
    callback = CallbackModule()
    monkeypatch.setattr(callback, "_display", type("D", (), {"display": lambda self, text: shown.append(text)})())
    callback.v2_playbook_on_start(None)
    path = os.environ[progress.FILE_VARIABLE]
    # What a module does, in its own process: the file it inherited, a line at most every STAGEFLOW_PROGRESS_SECONDS.
    assert progress.Progress("ecs_promote prod-cluster", every=0)("waiting for 1 of 1 service(s), 5m00s left")
    deadline = time.monotonic() + 5
    while not shown and time.monotonic() < deadline:
        time.sleep(0.1)
    progress.Progress("alb_traffic prod", every=0)("baking prod-app-green 10, prod-app-blue 90, 4m00s left")
    callback.v2_playbook_on_stats(None)  # the last line is printed before the run ends
    assert [line.split(" ", 4)[-1] for line in shown] == [
        "ecs_promote prod-cluster: waiting for 1 of 1 service(s), 5m00s left",
        "alb_traffic prod: baking prod-app-green 10, prod-app-blue 90, 4m00s left",
    ]
    assert all(line.startswith("  progress ") for line in shown)
    assert not os.path.exists(path) and progress.FILE_VARIABLE not in os.environ  # its file is gone with the run
