# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-contained HTML pages: a release's report (the release_html filter) and the environments' page (status_html).

No external file, font or script: a page opens from a laptop, an S3 console download or an AWX artifact alike. The
traffic chart is drawn in the browser from the page's own JSON (an SVG, one point per traffic step, the weight sent to
the new colour over the release's time, each point coloured by its gate), with a table of the same data beside it.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ansible_collections.stageflow.aws.plugins.module_utils import release_report as report

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#1d2433;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #dde2ea;padding:5px 8px;text-align:left;
vertical-align:top}th{background:#f3f5f9}code{font:12px ui-monospace,Menlo,Consolas,monospace}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600;font-size:13px}
.succeeded,.none,.OK,.passed{background:#1f883d}.failed,.aborted,.ALARM,.split,.interrupted,.gatefailed{background:#cf222e}
.rolledback,.started,.images,.unknown,.INSUFFICIENT_DATA,.notprovisioned{background:#bf8700}.muted{color:#656d76}
#chart svg{width:100%;height:260px;background:#fbfcfe;border:1px solid #dde2ea}
"""

CHART_SCRIPT = """
(function(){
  var steps = JSON.parse(document.getElementById('steps-data').textContent);
  var box = document.getElementById('chart'); if (!box || !steps.length) return;
  var ns = 'http://www.w3.org/2000/svg', W = 1000, H = 260, L = 60, R = 20, T = 20, B = 40;
  var svg = document.createElementNS(ns, 'svg'); svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', 'traffic to the new colour per step');
  var end = Math.max(1, steps[steps.length - 1].at);
  function x(t){ return L + (W - L - R) * t / end; } function y(p){ return H - B - (H - T - B) * p / 100; }
  function el(name, attrs, text){ var e = document.createElementNS(ns, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; }
  [0, 25, 50, 75, 100].forEach(function(p){
    el('line', {x1: L, x2: W - R, y1: y(p), y2: y(p), stroke: '#e3e7ee'});
    el('text', {x: L - 8, y: y(p) + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#656d76'}, p + '%'); });
  el('text', {x: (W + L) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 12, fill: '#656d76'},
     'seconds since the first step (' + end.toFixed(1) + 's)');
  var path = 'M' + x(0) + ' ' + y(steps[0].before);
  steps.forEach(function(s){ path += ' L' + x(s.start) + ' ' + y(s.percent) + ' L' + x(s.at) + ' ' + y(s.percent); });
  el('path', {d: path, fill: 'none', stroke: '#0969da', 'stroke-width': 2});
  steps.forEach(function(s, i){
    var c = el('circle', {cx: x(s.at), cy: y(s.percent), r: 7, 'class': 'step-point',
      fill: s.passed ? '#1f883d' : '#cf222e', 'data-percent': s.percent});
    var t = document.createElementNS(ns, 'title'); t.textContent = 'step ' + (i + 1) + ': ' + s.percent + '%, gate ' +
      (s.passed ? 'passed' : 'failed') + ' after ' + s.seconds + 's'; c.appendChild(t);
    el('text', {x: x(s.at), y: y(s.percent) - 12, 'text-anchor': 'middle', 'font-size': 12}, s.percent + '%'); });
  box.appendChild(svg);
  var said = document.createElement('p'); said.id = 'chart-summary'; said.className = 'muted';
  said.textContent = steps.length + ' step(s) drawn'; box.appendChild(said);
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _badge(word: str) -> str:
    return f'<span class="badge {_e(str(word).replace(" ", ""))}">{_e(word)}</span>'


def _json_script(element_id: str, data: Any) -> str:
    """JSON inside a script element: <, > and & escaped, so that no text in it can end the element or change how the
    HTML parser reads it (Django's json_script does the same)."""
    text = json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _items(title: str, items: list[str], empty: str) -> str:
    """A section listing items (already escaped HTML), or saying `empty` when there is none."""
    listed = (
        "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else f"<p class='muted'>{_e(empty)}</p>"
    )
    return f"<h2>{_e(title)}</h2>{listed}"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>\n"
    )


def chart_points(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per traffic step: when its bake began and ended (seconds since the first step), the weight to the new
    colour before and during it, and its gate."""
    points, clock, before = [], 0.0, 0
    for step in steps:
        seconds = float(step.get("seconds") or 0)
        percent = int(step.get("percent") or 0)
        points.append(
            {
                "start": round(clock, 1),
                "at": round(clock + seconds, 1),
                "before": before,
                "percent": percent,
                "passed": bool(step.get("passed")),
                "seconds": seconds,
            }
        )
        clock += seconds
        before = percent
    return points


def release_html(record: dict[str, Any]) -> str:
    """A release's report: what it was, the plan (each service's images before and after, by digest), the traffic
    steps as a chart and a table, the health check, the snapshots, what was restored on failure, the notifications."""
    r = record
    title = f"{r.get('kind', 'release')} {r.get('note', '')} - {r.get('target', '')}"
    parts = [
        f"<h1>{_e(title)} {_badge(r.get('outcome', '?'))}</h1>",
        f'<p class="muted">Release <code>{_e(r.get("id"))}</code> by {_e(r.get("who"))}'
        + (f" (AWS identity <code>{_e(r['aws_identity'])}</code>)" if r.get("aws_identity") else "")
        + f", {_e(r.get('strategy', ''))}, started {_e(r.get('started_at'))}, finished {_e(r.get('finished_at'))}"
        + (f" - {_e(r.get('duration_seconds'))}s" if r.get("duration_seconds") is not None else "")
        + "</p>",
    ]
    if r.get("failure"):
        parts.append(f"<p><strong>Failed:</strong> {_e(r['failure'])}</p>")
    parts.append(
        "<h2>Plan</h2><table><tr><th>ECS service</th><th>Container</th><th>Before</th><th>After</th>"
        "<th>Task definition</th><th>State</th></tr>"
    )
    for service in r.get("services") or []:
        images = service.get("images") or {}
        rows = max(1, len(images))
        first = True
        for name, image in images.items() or [("-", {})]:
            cells = ""
            if first:
                cells = f'<td rowspan="{rows}">{_e(service.get("service"))}</td>'
            cells += (
                f"<td>{_e(name)}</td><td><code>{_e(report.short_image(image.get('before', '')))}</code></td>"
                f"<td><code>{_e(report.short_image(image.get('after', '')))}</code></td>"
            )
            if first:
                before = str(service.get("previous_task_definition", "")).rsplit("/", 1)[-1]
                after = str(service.get("task_definition", "")).rsplit("/", 1)[-1]
                cells += (
                    f'<td rowspan="{rows}"><code>{_e(before)} -> {_e(after)}</code></td>'
                    f'<td rowspan="{rows}">{_e(service.get("state"))}</td>'
                )
            parts.append(f"<tr>{cells}</tr>")
            first = False
    parts.append("</table>")
    steps = r.get("steps") or []
    points = chart_points(steps)
    parts.append("<h2>Traffic steps</h2>")
    if steps:
        parts.append(
            '<div id="chart"></div><table><tr><th>Step</th><th>To the new colour</th><th>Gate</th>'
            "<th>Bake</th><th>Looks</th><th>What the gate saw</th></tr>"
        )
        for i, (step, point) in enumerate(zip(steps, points), 1):  # noqa: B905 - modules run on Python 3.8+
            gate = "passed" if step.get("passed") else ("failed" if step.get("enforced", True) else "reported")
            parts.append(
                f"<tr class='step-row'><td>{i}</td><td>{_e(step.get('percent'))}%</td>"
                f"<td>{_badge(gate if gate != 'failed' else 'gate failed')}</td>"
                f"<td>{_e(point['start'])}s - {_e(point['at'])}s</td><td>{_e(step.get('looks', 1))}</td>"
                f"<td>{_e(step.get('gate'))}{(' - ' + _e(step['paused'])) if step.get('paused') else ''}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append(
            "<p class='muted'>No traffic step (a rolling release, or it stopped before the traffic moved).</p>"
        )
    health = r.get("health") or {}
    parts.append("<h2>Health check</h2>")
    parts.append(
        f"<p><code>{_e(health.get('url'))}</code> answered <strong>{_e(health.get('status'))}</strong></p>"
        if health
        else "<p class='muted'>Not checked (the release did not get that far).</p>"
    )
    parts.append(_items("Snapshots", [f"<code>{_e(s)}</code>" for s in r.get("snapshots") or []], "None taken."))
    parts.append(_items("Restored", [_e(s) for s in r.get("restored") or []], "Nothing needed restoring."))
    notes = r.get("notifications") or {}
    if notes:
        missed = notes.get("missed") or []
        parts.append(
            "<h2>Notifications</h2><p>Delivered: " + _e(", ".join(notes.get("delivered") or []) or "none") + "</p>"
        )
        if missed:
            parts.append(
                "<ul>"
                + "".join(
                    f"<li>missed {_e(m.get('event'))} ({_e(m.get('to'))}): {_e(m.get('why'))}</li>" for m in missed
                )
                + "</ul>"
            )
    parts.append(_json_script("steps-data", points))
    parts.append(_json_script("release-data", r))
    parts.append(f"<script>{CHART_SCRIPT}</script>")
    return _page(title, "".join(parts))


def status_html(statuses: list[dict[str, Any]], matrix: dict[str, Any] | None = None) -> str:
    """The environments' page: what runs where, the comparison matrix and its costs, the last releases."""
    parts = ["<h1>Stageflow environments</h1>"]
    parts.append(
        "<h2>What runs where</h2><table><tr><th>Environment</th><th>Live</th><th>Drift</th><th>Lock</th>"
        "<th>Service</th><th>ECS service</th><th>Weight</th><th>Tasks</th><th>Targets</th><th>Alarms</th>"
        "<th>Images</th></tr>"
    )
    for s in statuses:
        entries = [(svc, e) for svc in s.get("services") or [] for e in svc.get("ecs_services") or []] or [({}, {})]
        lock = s.get("lock") or {}
        lock_text = f"held by {lock.get('owner')} until {lock.get('lease_until')}" if lock.get("held") else "free"
        for i, (service, entry) in enumerate(entries):
            head = ""
            if i == 0:
                head = (
                    f'<td rowspan="{len(entries)}" class="env"><strong>{_e(s["environment"])}</strong><br>'
                    f'<span class="muted">{_e(s.get("strategy"))}</span></td>'
                    f'<td rowspan="{len(entries)}">{_e(s.get("live_colour") or "-")}</td>'
                    f'<td rowspan="{len(entries)}">{_badge(s.get("drift", "?"))}'
                    f'<br><span class="muted">{_e(s.get("drift_detail"))}</span></td>'
                    f'<td rowspan="{len(entries)}">{_e(lock_text)}</td>'
                )
            if entry.get("missing") or not entry:
                body = f"<td>{_e(service.get('name', '-'))}</td><td>{_e(entry.get('ecs_service', '-'))}</td>"
                body += '<td colspan="5">missing (not provisioned)</td>'
            else:
                targets = ", ".join(f"{t['healthy']}/{t['total']}" for t in entry.get("targets") or []) or "-"
                alarms = entry.get("alarms")
                alarm_text = (
                    "-" if alarms is None else f"{sum(1 for v in alarms.values() if v == 'OK')}/{len(alarms)} OK"
                )
                body = (
                    f"<td>{_e(service.get('name'))}</td><td>{_e(entry.get('ecs_service'))}"
                    f"<br><code>{_e(entry.get('task_definition'))}</code></td>"
                    f"<td>{_e(entry.get('weight', '-') if entry.get('weight') is not None else '-')}</td>"
                    f"<td>{_e(entry.get('running'))}/{_e(entry.get('desired'))} {_e(entry.get('rollout'))}</td>"
                    f"<td>{_e(targets)}</td>"
                    f"<td>{_e(alarm_text)}</td><td>"
                    + "<br>".join(
                        f"{_e(n)} <code>{_e(report.short_image(i))}</code>"
                        for n, i in sorted((entry.get("images") or {}).items())
                    )
                    + "</td>"
                )
            parts.append(f"<tr>{head}{body}</tr>")
        if s.get("missing"):
            parts.append(
                f'<tr><td colspan="11" class="muted">{_e(s["environment"])} - not provisioned: '
                f"{_e(', '.join(s['missing']))}</td></tr>"
            )
    parts.append("</table>")
    if matrix:
        columns = matrix.get("columns") or []
        rows = [k for k in (columns[0] if columns else {}) if k[0].isupper()]
        parts.append(
            "<h2>Comparison matrix</h2><table id='matrix'><tr><th>Feature</th>"
            + "".join(f"<th>{_e(c['environment'])}</th>" for c in columns)
            + "</tr>"
        )
        for row in rows:
            parts.append(f"<tr><th>{_e(row)}</th>" + "".join(f"<td>{_e(c.get(row))}</td>" for c in columns) + "</tr>")
        parts.append("</table>")
        prices = matrix.get("prices") or {}
        parts.append(
            f"<p>Total: <strong>${matrix.get('total', 0):,.2f}/month</strong> estimated, with "
            f"{_e(prices.get('region'))} prices as of {_e(prices.get('as_of'))}.</p>"
        )
    parts.append(
        "<h2>Last releases</h2><table><tr><th>Environment</th><th>Started</th><th>Kind</th><th>Release</th>"
        "<th>Outcome</th><th>Who</th><th>Seconds</th></tr>"
    )
    for s in statuses:
        for rel in s.get("releases") or []:
            parts.append(
                f"<tr><td>{_e(s['environment'])}</td><td>{_e(rel.get('started_at'))}</td><td>{_e(rel.get('kind'))}</td>"
                f"<td>{_e(rel.get('note'))}<br><code>{_e(rel.get('id'))}</code></td>"
                f"<td>{_badge(rel.get('outcome', '?'))}</td>"
                f"<td>{_e(rel.get('who'))}</td><td>{_e(rel.get('duration_seconds'))}</td></tr>"
            )
    parts.append("</table>")
    parts.append(_json_script("status-data", {"environments": statuses}))
    return _page("Stageflow environments", "".join(parts))
