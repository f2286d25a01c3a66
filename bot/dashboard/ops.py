"""Integration health (with the masked configuration) and the operational figures with their chart."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from bot import figures, health
from bot.dashboard import render
from bot.dashboard.context import Dash, masked_settings
from bot.dashboard.render import Html, tag, when

MAX_WEEKS = 104


def router(d: Dash) -> APIRouter:
    r = APIRouter(tags=["dashboard"])

    @r.get("/admin/health")
    def health_page(request: Request) -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        systems = d.sv.health.snapshot()
        for name in [*d.sv.messaging, *(crm.name for crm in d.sv.crms.values())]:
            systems.setdefault(name, health.IntegrationHealth(name))
        rows = []
        for name, h in sorted(systems.items()):
            calls = health.api_calls(name)
            calls_text = ", ".join(f"{k}: {v}" for k, v in calls.items()) or "none counted"
            status_cls = "bad" if h.status == "last call failed" else "good" if h.status == "ok" else None
            waits = f"{h.rate_limit_waits} (last {h.last_wait_seconds:g} s)" if h.last_wait_seconds else "0"
            rows.append(
                [
                    name,
                    tag("span", h.status, class_=status_cls),
                    when(h.last_success_at),
                    render.join([when(h.last_error_at), tag("pre", h.last_error) if h.last_error else ""]),
                    waits,
                    health.rate_limit_total(name),
                    calls_text,
                ]
            )
        usage = [[k, f"{v:g}"] for k, v in sorted(health.crm_api_usage().items())]
        counts = d.sv.queue.counts()
        queue_rows = [[status, counts.get(status, 0)] for status in ("queued", "running", "done", "dead")]
        body = render.join(
            [
                tag("p", "What this process has seen since it started; each replica keeps its own record. "
                         "Prometheus series for every replica are at /metrics.", class_="muted"),
                render.table(
                    "Integrations",
                    ["System", "Status", "Last success (UTC)", "Last error (UTC)", "Waits asked (Retry-After)",
                     "429s", "Calls by outcome"],
                    rows, numeric={5}, empty="No integration is configured or has been called yet.",
                ),
                tag("h2", "CRM API usage"),
                render.table("As last reported by the CRM", ["Measure", "Value"], usage, numeric={1},
                             empty="The CRM has not reported its API usage (yet)."),
                tag("h2", "Job queue"),
                render.table("Jobs by status", ["Status", "Jobs"], queue_rows, numeric={1}),
                tag("h2", "Configuration"),
                render.table("Settings in effect (secrets are never shown)", ["Variable", "Value"],
                             masked_settings(d.sv.settings)),
            ]
        )  # fmt: skip
        return d.page(request, admin, "Integrations", body)

    @r.get("/admin/figures")
    def figures_page(request: Request, weeks: int = 12, metric: str = "resolution") -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        weeks = max(1, min(MAX_WEEKS, weeks))
        chosen = figures.METRIC_BY_KEY.get(metric, figures.METRIC_BY_KEY["resolution"])
        since = d.sv.clock() - timedelta(weeks=weeks)
        with d.sv.db.session() as s:
            rows = figures.load(s, since)
        per_week = figures.by_week(rows)
        per_priority = figures.by_priority(rows)
        metric_opts = render.join(
            tag("option", m.label, value=m.key, selected=m.key == chosen.key) for m in figures.METRICS
        )
        picker = Html(
            '<form method="get" action="/admin/figures" class="card">'
            f'<label for="f-metric">Chart</label><select id="f-metric" name="metric">{metric_opts}</select>'
            f"{render.field('Weeks back', 'weeks', weeks, type_='number')}"
            '<button type="submit">Show</button></form>'
        )
        body = render.join(
            [
                tag("p", f"{len(rows)} cases opened in the last {weeks} weeks. Durations run from the CRM's "
                         "case.opened time; p90 is the nearest-rank 90th percentile. A case without a value "
                         "(e.g. not resolved yet) is left out of that figure; n says how many cases count. A closed "
                         "case's figures are those of its closure."),
                picker,
                Html(figures.chart_svg(per_week, chosen)),
                _stats_table(f"All {len(rows)} cases", [figures.overall(rows)], "Group"),
                tag("h2", "Per ISO week of opening"),
                _stats_table("Median / p90 per week", per_week, "Week"),
                tag("h2", "Per priority"),
                _stats_table("Median / p90 per priority", per_priority, "Priority"),
            ]
        )  # fmt: skip
        return d.page(request, admin, "Figures", body)

    return r


def _stats_table(caption: str, groups: list[figures.Group], first: str) -> Html:
    headers = [first, "Cases", *[m.label for m in figures.METRICS]]
    rows = []
    for g in groups:
        cells: list[object] = [g.key, g.cases]
        for m in figures.METRICS:
            st = g.stats.get(m.key) or figures.Stat(0, None, None)
            cells.append(f"{figures.human(st.median, m.unit)} / {figures.human(st.p90, m.unit)} (n={st.n})")
        rows.append(cells)
    return render.table(caption, headers, rows, numeric={1}, empty="No cases in this period.")
