"""The Salesforce plugin: the CRM port, the Outbound Message route and the sweeps the leader schedules."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Settings
from bot.models import Job
from bot.plugins import PluginContext, PluginParts, Verdict
from bot.worker import JobKind
from integrations.salesforce import digest, outbound, probe, reconcile
from integrations.salesforce.client import Connection
from integrations.salesforce.crm import SalesforceCRM
from integrations.salesforce.settings import SalesforceSettings


class SalesforcePlugin:
    name = "salesforce"
    platform = None
    settings = SalesforceSettings

    def probe(self, settings: Settings) -> list[Verdict]:
        return probe.connection(settings.section(SalesforceSettings))

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings.section(SalesforceSettings)
        if not s.instance_url or not s.org_id:
            return None
        crm = SalesforceCRM(Connection(s), room_url_field=s.room_url_field)
        sv = ctx.services
        overlap = timedelta(seconds=s.reconcile_overlap_seconds)

        def sweep(_job: Job) -> None:
            reconcile.sweep(crm, ctx.ingest, sv.db, sv.clock, overlap=overlap)

        def post_digests(_job: Job) -> None:
            digest.run(crm, sv.db, sv.clock, legacy=sv.crm_named("") is crm)

        kinds = {reconcile.KIND: JobKind(sweep)}
        scheduled: list[tuple[str, int]] = [(reconcile.KIND, s.reconcile_seconds)]
        if s.digest_seconds:
            kinds[digest.KIND] = JobKind(post_digests)
            scheduled.append((digest.KIND, s.digest_seconds))
        return PluginParts(
            crm=crm,
            routers=[outbound.router(ctx.ingest, s.org_id)],
            webhooks={outbound.PATH: "salesforce"},
            job_kinds=kinds,
            scheduled=scheduled,
        )


plugin = SalesforcePlugin()
