"""Prometheus series. Adapters count their API calls here too (they may import the core; not the reverse)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "caseroom_webhooks_total",
    "Inbound webhook requests by source and outcome",
    ["source", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_SECONDS = Histogram(
    "caseroom_webhook_seconds",
    "Time to verify, persist and acknowledge a webhook",
    ["source"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
)
JOBS = Counter("caseroom_jobs_total", "Job runs by kind and outcome", ["kind", "outcome"], registry=REGISTRY)
JOB_SECONDS = Histogram("caseroom_job_seconds", "Job run time", ["kind"], registry=REGISTRY)
JOBS_WAITING = Gauge("caseroom_job_queue", "Jobs by status (read at scrape time)", ["status"], registry=REGISTRY)
API_CALLS = Counter(
    "caseroom_api_calls_total",
    "Outbound API calls by system, method and outcome",
    ["system", "method", "outcome"],
    registry=REGISTRY,
)
API_SECONDS = Histogram(
    "caseroom_api_seconds", "Outbound API call time, client-side pacing waits included", ["system"], registry=REGISTRY
)
RATE_LIMIT_WAITS = Counter(
    "caseroom_rate_limit_waits_total", "429s (or equivalent) met, by system", ["system"], registry=REGISTRY
)
CRM_API_USAGE = Gauge("caseroom_crm_api_usage", "CRM API usage reported by the CRM", ["kind"], registry=REGISTRY)
DASHBOARD_SIGNINS = Counter(
    "caseroom_dashboard_signins_total",
    "Dashboard token sign-ins by outcome (ok, wrong, locked out)",
    ["outcome"],
    registry=REGISTRY,
)
