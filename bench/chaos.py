"""Chaos soak (issue 14): a real daemon SIGKILLed at random points of its work.

A daemon on a fresh SQLite file (or ``--pg URL``: a scratch PostgreSQL database) with
``clock: test``, its clients invoiced by email through a local SMTP server (aiosmtpd,
another process, which writes down the Message-ID of every message it accepts). Each
round picks an operation at random (seeded): a run, a client import, payments, credit
notes, document rendering after a run, invoice emails, dunning (the clock moved past
due dates), starts it, waits a random delay within it, and SIGKILLs the daemon with
its document workers; the daemon is restarted and ``billingd doctor`` must be clean
(a finding that lasts beyond ``--settle`` seconds after the restart counts as a
fault: runs and claims a dead process left are taken up by the new one). At the end
the outbox is drained and what the SMTP server received is compared with the outbox:
every message sent once per Message-ID, none missing, none under a second
Message-ID. Bounded by ``--kills`` (50) and ``--seconds`` (900).

    python bench/chaos.py --kills 50 --seed 14
    python bench/chaos.py --kills 20 --pg postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from billingd.control.client import ConnectionFailed, ControlClient, RemoteError  # noqa: E402
from fixtures import scratch_database  # noqa: E402
from harness import Daemon, machine, machine_lines, process_tree  # noqa: E402
from outbox import serve_smtp  # noqa: E402

OPERATIONS = ("run", "import", "payment", "credit_note", "render", "outbox", "dunning")
START = "2026-01-01"
SETTLE_SECONDS = 30.0


def sink(port: int, log: str, ready: Any) -> None:
    """An SMTP server that writes the Message-ID of each message it accepts to ``log``
    (one line each, flushed) after a short pause, so that kills land mid-delivery."""
    import asyncio
    from email.parser import BytesHeaderParser

    out = open(log, "a", buffering=1, encoding="ascii")  # noqa: SIM115 (the process's life)

    class Record:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.005)
            headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
            out.write(f"{headers.get('Message-ID', '-')}\n")
            return "250 OK"

    serve_smtp(Record(), port, ready)


class Soak:
    """The daemon, its folder and what was seen so far."""

    def __init__(self, folder: Path, url: str, port: int, seed: int, clients: int) -> None:
        self.folder = folder
        self.url = url
        self.rng = random.Random(seed)
        self.extra = (
            "clock: test\ninvoicing: manual\ndocument_workers: 1\n"
            f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  from: billing@chaos.test\n"
            "  rate: 0\n  timeout: 10\n"
        )
        self.daemon = Daemon(folder, url, self.extra)
        self.clients = clients
        self.imported = 0
        self.kills: Counter[str] = Counter()
        self.interrupted: Counter[str] = Counter()
        self.faults: list[str] = []
        self.doctor: Counter[str] = Counter()
        self.transient: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    # -- set-up and the daemon ---------------------------------------------------------

    def seed(self) -> None:
        call = self.daemon.call
        call("clock.set", to=f"{START}T08:00:00")
        enterprise = call(
            "enterprise.add", name="Chaos GmbH", currency="EUR", timezone="Europe/Berlin",
            start=1001,
        )  # fmt: skip
        self.enterprise = enterprise["id"]
        call("dunning.set_plan", enterprise=self.enterprise, steps=["first:3", "second:10:5.00"])
        for n in range(self.clients):
            client = call(
                "client.add", name=f"Client {n:04d}", enterprise=self.enterprise,
                email=f"billing{n}@example.com", send_email=True,
            )  # fmt: skip
            call(
                "contract.add", client=client["id"], description="Hosted PBX",
                price="49.90", cycle="month", start=START, timing="advance",
            )  # fmt: skip
        with ControlClient(self.daemon.socket, timeout=300) as client:
            self.op_run(client)  # the first month billed before the first kill

    def kill(self) -> None:
        """SIGKILL the daemon and its document workers at once, as a crash would."""
        pids = process_tree(self.daemon.process.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.daemon.process.wait(timeout=30)
        self.daemon._stop.set()
        if self.daemon._client is not None:
            with contextlib.suppress(OSError):
                self.daemon._client.close()

    def restart(self) -> None:
        self.daemon = Daemon(self.folder, self.url, self.extra)

    def check(self) -> None:
        """``billingd doctor`` until clean, at most :data:`SETTLE_SECONDS`."""
        deadline = time.monotonic() + SETTLE_SECONDS
        seen: set[str] = set()
        while True:
            done = subprocess.run(
                [sys.executable, "-m", "billingd", "doctor", "--json", "--config",
                 str(self.folder / "billingd.yaml")],
                capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode == 0:
                self.doctor["clean"] += 1
                self.transient.update(seen)
                return
            try:
                problems = json.loads(done.stdout)["problems"]
            except (ValueError, KeyError):
                problems = [{"check": "doctor", "detail": done.stdout + done.stderr}]
            seen |= {p["check"] for p in problems}
            if time.monotonic() > deadline:
                self.doctor["problems"] += 1
                self.faults.extend(f"{p['check']}: {p.get('detail', p)}" for p in problems[:5])
                return
            time.sleep(0.5)

    # -- the operations: each runs in a thread until it ends or the daemon dies --------

    def _open_invoices(self, client: ControlClient) -> list[dict[str, Any]]:
        return client.call("invoice.list", status="open", limit=200)

    def _write(self, connection: ControlClient, method: str, **params: Any) -> None:
        """A write the books may refuse (a balance already credited): counted."""
        try:
            connection.call(method, **params)
        except RemoteError as exc:
            self.refused[f"{method} {exc.code}"] += 1

    def op_run(self, client: ControlClient) -> None:
        client.call("clock.advance", by="15d")
        run = client.call("run.start")
        while client.call("run.show", id=run["id"])["status"] == "running":
            time.sleep(0.05)

    def op_render(self, client: ControlClient) -> None:
        self.op_run(client)  # the kill lands while its documents render

    def op_import(self, client: ControlClient) -> None:
        path = self.folder / "clients.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["name", "enterprise", "email", "send-email"])
            for _ in range(400):
                self.imported += 1
                writer.writerow([f"Imported {self.imported:06d}", self.enterprise,
                                 f"imported{self.imported}@example.com", "true"])  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "billingd.ctl", "--socket", str(self.daemon.socket),
             "client", "import", str(path)],
            capture_output=True, timeout=300,
        )  # fmt: skip

    def op_payment(self, client: ControlClient) -> None:
        for invoice in self._open_invoices(client):
            self._write(client, "payment.record", client=invoice["client_id"],
                        invoice=invoice["id"], amount="20.00", reference="chaos")  # fmt: skip

    def op_credit_note(self, client: ControlClient) -> None:
        for invoice in self._open_invoices(client):
            self._write(client, "credit_note.issue", invoice=invoice["id"], amount="5.00",
                        reason="chaos")  # fmt: skip

    def op_outbox(self, client: ControlClient) -> None:
        for invoice in self._open_invoices(client)[:60]:
            self._write(client, "invoice.send", invoice=invoice["id"])

    def op_dunning(self, client: ControlClient) -> None:
        client.call("clock.advance", by="4d")

    def round(self, kind: str, window: float) -> None:
        """Start ``kind``, SIGKILL the daemon after a random delay within ``window``,
        restart it and ask the doctor."""
        action: Callable[[ControlClient], None] = getattr(self, f"op_{kind}")
        ended = threading.Event()

        def work() -> None:
            try:
                with ControlClient(self.daemon.socket, timeout=300) as client:
                    action(client)
            except (ConnectionFailed, OSError, EOFError):
                pass  # the daemon died under it: expected
            except Exception as exc:  # a refusal or an error of this script's
                self.errors[f"{kind}: {type(exc).__name__}: {exc}"[:70]] += 1
            finally:
                ended.set()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        ended.wait(self.rng.uniform(0.05, window))
        if not ended.is_set():
            self.interrupted[kind] += 1
        self.kill()
        thread.join(timeout=60)
        self.kills[kind] += 1
        self.restart()
        self.check()
        self.settle()

    def settle(self, timeout: float = 30) -> None:
        """Give the restarted daemon time to render the documents and send what is
        due (a few seconds between crashes, not a crash loop): at most ``timeout``."""
        busy = (
            "SELECT (SELECT COUNT(*) FROM document_job WHERE state IN "
            "('pending', 'rendering')) + (SELECT COUNT(*) FROM outbox_message WHERE "
            "state = 'sending' OR (state = 'queued' AND attempts = 0))"
        )
        deadline = time.monotonic() + timeout
        while self.daemon.query(busy)[0][0] and time.monotonic() < deadline:
            time.sleep(0.2)

    # -- the end -----------------------------------------------------------------------

    def drain(self, sent_log: Path, timeout: float = 300) -> dict[str, Any]:
        """Wait until no message is queued or sending; compare with what the sink got."""
        pending = "SELECT COUNT(*) FROM outbox_message WHERE state IN ('queued', 'sending')"
        deadline = time.monotonic() + timeout
        while self.daemon.query(pending)[0][0] and time.monotonic() < deadline:
            time.sleep(0.5)
        rows = self.daemon.query(
            "SELECT message_id, state FROM outbox_message WHERE channel = 'email'"
        )
        states = Counter(state for _, state in rows)
        sent = {mid for mid, state in rows if state == "sent"}
        received = [line for line in sent_log.read_text().splitlines() if line]
        distinct = set(received)
        return {
            "outbox_emails": len(rows),
            "states": dict(states),
            "received": len(received),
            "delivered_once": len(sent & distinct),
            "missing": len(sent - distinct),
            "unknown": len(distinct - {mid for mid, _ in rows}),
            "resent_same_id": len(received) - len(distinct),
        }


def report_lines(result: dict[str, Any]) -> list[str]:
    mail = result["mail"]
    lines = [
        f"chaos soak: {result['kills']} SIGKILLs in {result['seconds']:.0f} s, seed "
        f"{result['seed']}, {result['database']}",
        "kills by operation: "
        + ", ".join(f"{k} {n}" for k, n in sorted(result["kills_by_kind"].items())),
        "  of which mid-operation: "
        + ", ".join(f"{k} {n}" for k, n in sorted(result["interrupted"].items())),
        f"doctor after each restart: {result['doctor'].get('clean', 0)} clean, "
        f"{result['doctor'].get('problems', 0)} with problems",
        "  seen before settling: "
        + (", ".join(f"{k} {n}" for k, n in sorted(result["transient"].items())) or "none"),
        f"invoices {result['invoices']}, duplicated (client, period) "
        f"{result['duplicate_invoices']}, payments {result['payments']}, credit notes "
        f"{result['credit_notes']}",
        f"emails queued {mail['outbox_emails']} {mail['states']}",
        f"  received {mail['received']}, delivered once {mail['delivered_once']}, "
        f"missing {mail['missing']}, unknown {mail['unknown']}",
        f"  re-sent with the same Message-ID {mail['resent_same_id']}",
        f"final doctor: {'clean' if result['final_doctor_clean'] else 'PROBLEMS'}; "
        f"faults {len(result['faults'])}",
    ]
    lines += [f"  fault: {fault}" for fault in result["faults"][:10]]
    lines += [f"refused (books' rules): {k} x{n}" for k, n in result["refused"].items()]
    lines += [f"operation error: {k} x{n}" for k, n in result["errors"].items()]
    return [part for line in lines for part in textwrap.wrap(line, 80, subsequent_indent="    ")]


def soak(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bd-chaos-", dir="/tmp"))
    with socket.socket() as probe:  # a free port for the SMTP server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sent_log = folder / "received.txt"
    sent_log.touch()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=sink, args=(port, str(sent_log), ready), daemon=True)
    server.start()
    ready.wait(30)
    began = time.monotonic()
    try:
        with scratch_database(folder, args.pg) as url:
            state = Soak(folder, url, port, args.seed, args.clients)
            try:
                state.seed()
                kills = 0
                while kills < args.kills and time.monotonic() - began < args.seconds:
                    kind = state.rng.choice(OPERATIONS)
                    state.round(kind, args.window)
                    kills += 1
                mail = state.drain(sent_log)
                final = subprocess.run(
                    [sys.executable, "-m", "billingd", "doctor", "--config",
                     str(folder / "billingd.yaml")],
                    capture_output=True, text=True,
                )  # fmt: skip
                query = state.daemon.query
                invoices = query("SELECT COUNT(*) FROM invoice")[0][0]
                duplicates = query(
                    "SELECT COUNT(*) FROM (SELECT client_id, period_start FROM invoice "
                    "WHERE period_start IS NOT NULL GROUP BY client_id, period_start "
                    "HAVING COUNT(*) > 1) AS twice"
                )[0][0]
                result = {
                    "seed": args.seed,
                    "database": "PostgreSQL" if args.pg else "SQLite",
                    "kills": kills,
                    "seconds": time.monotonic() - began,
                    "kills_by_kind": dict(state.kills),
                    "interrupted": dict(state.interrupted),
                    "doctor": dict(state.doctor),
                    "transient": dict(state.transient),
                    "faults": state.faults,
                    "refused": dict(state.refused),
                    "errors": dict(state.errors),
                    "invoices": invoices,
                    "duplicate_invoices": duplicates,
                    "payments": query("SELECT COUNT(*) FROM payment")[0][0],
                    "credit_notes": query("SELECT COUNT(*) FROM credit_note")[0][0],
                    "mail": mail,
                    "final_doctor_clean": final.returncode == 0,
                    "machine": machine(args.pg),
                }
            finally:
                state.daemon.stop()
    finally:
        server.terminate()
        server.join()
        shutil.rmtree(folder, ignore_errors=True)
    return result


def survived(result: dict[str, Any]) -> bool:
    """Nothing lost, nothing doubled: the doctor clean after every kill and at the end,
    every sent email received, none under a second Message-ID, no invoice twice."""
    mail = result["mail"]
    return (
        not result["faults"]
        and not result["errors"]
        and result["final_doctor_clean"]
        and result["duplicate_invoices"] == 0
        and mail["missing"] == 0
        and mail["unknown"] == 0
        and mail["states"].get("queued", 0) + mail["states"].get("sending", 0) == 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs (default 50)")
    parser.add_argument("--seconds", type=float, default=900, help="time bound (900)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--clients", type=int, default=100, help="clients (default 100)")
    parser.add_argument(
        "--window", type=float, default=2.0, help="kill within so many seconds of a start (2)"
    )
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server for a scratch database")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the daemon and sink
    result = soak(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join([*report_lines(result), *machine_lines(result["machine"])]))
    return 0 if survived(result) else 1


if __name__ == "__main__":
    sys.exit(main())
