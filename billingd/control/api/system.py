"""Methods about the daemon itself: status, audit trail, plugins."""

from __future__ import annotations

import base64
import os
from typing import Any

from billingd import __version__
from billingd.control.api.runs import clock_view
from billingd.control.params import IDENTIFIER, Int, PositiveInt, Str
from billingd.control.registry import method
from billingd.db.connection import is_postgres
from billingd.db.migrations import SCHEMA_VERSION
from billingd.services import outbox, parties, runs, templates_admin
from billingd.services.audit import list_audit
from billingd.services.context import ServiceContext
from billingd.views import audit_view


@method(
    "status",
    writes=False,
    result=(
        "`{version, pid, database, schema_version, now, clients, actor, clock, next_run, "
        "last_run, scheduler}`; `last_run` is `{id, as_of, trigger, status, started_at, "
        "finished_at, total, done, invoices, failures, parked}`, or null before the first run; "
        "`scheduler` is `{state, last_error, last_error_at}`: state `ok`, `failing` (the latest "
        "attempt of some scheduler work failed; the error is on its run) or `dead` (billing "
        "stopped; the systemd watchdog is no longer fed), or null without a scheduler"
    ),
    quick=True,
)
def status(ctx: ServiceContext) -> dict[str, Any]:
    """Daemon version, database, clock, client count, next and last run, the outbox's
    waiting and failed messages per channel (for monitoring)."""
    clock = clock_view(ctx)
    return {
        "version": __version__,
        "pid": os.getpid(),
        "database": "postgresql" if is_postgres() else "sqlite",
        "schema_version": SCHEMA_VERSION,
        "now": clock["now"],
        "clients": parties.count_clients(),
        "actor": ctx.actor,
        "clock": clock["clock"],
        "next_run": clock["next_run"],
        "last_run": runs.last_run_summary(),
        "scheduler": ctx.runner.health_view() if ctx.runner is not None else None,
        "outbox": outbox.counts(),
    }


@method(
    "audit.list",
    writes=False,
    result="list of `AuditEvent`, newest first",
    client=Int(),
    limit=PositiveInt(default=200),
)
def audit_list(ctx: ServiceContext, limit: int, client: int | None = None) -> list[dict]:
    """The audit trail, newest first, optionally for one client (R-AUD-1)."""
    return [audit_view(a) for a in list_audit(client, min(limit, 5000))]


@method(
    "plugins.list",
    writes=False,
    result="list of `{name, version, hooks, builtin, registers}`; `registers` maps "
    "`renderer`, `gateway`, `notifier`, `uploader` to the names the plugin registers",
)
def plugins_list(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Loaded plugins with their versions, hooks and what each registers."""
    return ctx.plugins.plugin_list() if ctx.plugins else []


@method(
    "template.list",
    writes=False,
    result="list of `{name, path, source}`: source `packaged` or `operator`",
)
def template_list(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Document templates by name, and whether the operator overrides ours (R-DEL-2)."""
    return templates_admin.list_templates(ctx)


@method(
    "template.preview",
    writes=False,
    result="`{name, media_type, content_base64}`: the PDF",
    name=Str(required=True, bound=IDENTIFIER),
)
def template_preview(ctx: ServiceContext, name: str) -> dict[str, Any]:
    """A template rendered as PDF with its placeholders unreplaced, base64-encoded."""
    data = templates_admin.preview_template(ctx, name)
    return {
        "name": name,
        "media_type": "application/pdf",
        "content_base64": base64.b64encode(data).decode(),
    }
