"""The Salesforce plugin: the CRM port, the Outbound Message route and the sweeps the leader schedules."""

from __future__ import annotations

from datetime import timedelta

from bot.models import Job
from bot.plugins import PluginContext, PluginParts
from bot.worker import JobKind
from integrations.salesforce import digest, outbound, reconcile
from integrations.salesforce.client import Connection
from integrations.salesforce.crm import SalesforceCRM


class SalesforcePlugin:
    name = "salesforce"

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings
        if not s.salesforce_instance_url or not s.salesforce_org_id:
            return None
        crm = SalesforceCRM(Connection(s), room_url_field=s.salesforce_room_url_field)
        sv = ctx.services
        overlap = timedelta(seconds=s.salesforce_reconcile_overlap_seconds)

        def sweep(_job: Job) -> None:
            reconcile.sweep(crm, ctx.ingest, sv.db, sv.clock, overlap=overlap)

        def post_digests(_job: Job) -> None:
            digest.run(crm, sv.db, sv.clock)

        kinds = {reconcile.KIND: JobKind(sweep)}
        scheduled: list[tuple[str, int]] = [(reconcile.KIND, s.salesforce_reconcile_seconds)]
        if s.salesforce_digest_seconds:
            kinds[digest.KIND] = JobKind(post_digests)
            scheduled.append((digest.KIND, s.salesforce_digest_seconds))
        return PluginParts(
            crm=crm,
            routers=[outbound.router(ctx.ingest, s.salesforce_org_id)],
            job_kinds=kinds,
            scheduled=scheduled,
        )


plugin = SalesforcePlugin()
