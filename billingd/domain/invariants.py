"""What ``billingd doctor`` decides: the invariants of a billing database, as pure rules.

Each function takes what :mod:`billingd.services.doctor` read and returns a list of
:class:`Problem` (empty when all is well), so one look reports everything wrong at
once (the shape of beancount's checks). Nothing here reads the database or a file.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billingd.domain.allocation import settled_status
from billingd.domain.numbering import format_number, number_value, sequence_key

Owner = tuple[str, int]
"""``("client", id)`` or ``("reseller", id)``."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: the check that found it, what it is about, what is wrong, and
    the spec rule it breaks (empty when none applies)."""

    check: str
    subject: str
    message: str
    rule: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "rule": self.rule,
            "subject": self.subject,
            "message": self.message,
        }


# -- ledger and balances -----------------------------------------------------------------


def ledger_problems(
    ledger: Mapping[Owner, Decimal],
    open_balances: Mapping[Owner, Decimal],
    credit: Mapping[Owner, Decimal],
) -> list[Problem]:
    """R-LED-1 per owner: the ledger balance is Σ open invoice balances − unapplied
    client credit (all three summed per owner; a missing owner sums to zero)."""
    problems = []
    zero = Decimal(0)
    for owner in sorted({*ledger, *open_balances, *credit}):
        entries = ledger.get(owner, zero)
        expected = open_balances.get(owner, zero) - credit.get(owner, zero)
        if entries != expected:
            problems.append(
                Problem(
                    "ledger",
                    f"{owner[0]} {owner[1]}",
                    f"ledger balance {entries} != open balances {open_balances.get(owner, zero)}"
                    f" − unapplied credit {credit.get(owner, zero)} = {expected}",
                    "R-LED-1",
                )
            )
    return problems


@dataclass(frozen=True, slots=True)
class InvoiceSums:
    """An invoice's stored figures beside the sums of what belongs to it."""

    id: int
    number: str | None
    status: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    balance: Decimal
    line_nets: Decimal
    line_taxes: Decimal
    allocated: Decimal
    credited: Decimal


def _invoice_name(invoice_id: int, number: str | None) -> str:
    return f"invoice {number} (id {invoice_id})" if number else f"invoice id {invoice_id}"


def invoice_problems(invoice: InvoiceSums) -> list[Problem]:
    """One invoice: totals from its lines (R-MONEY-2), balance = total − payments
    allocated − credit notes and a status that says so (R-INV-7); a void one owes
    nothing and holds nothing (R-INV-8)."""
    name = _invoice_name(invoice.id, invoice.number)
    found = []
    if invoice.subtotal != invoice.line_nets or invoice.tax != invoice.line_taxes:
        found.append(
            (
                "R-MONEY-2",
                f"subtotal/tax {invoice.subtotal}/{invoice.tax}, its lines add up to "
                f"{invoice.line_nets}/{invoice.line_taxes}",
            )
        )
    if invoice.total != invoice.subtotal + invoice.tax:
        found.append(("R-MONEY-2", f"total {invoice.total} != {invoice.subtotal} + {invoice.tax}"))
    if invoice.status == "void":
        if invoice.allocated or invoice.credited or invoice.balance:
            found.append(
                (
                    "R-INV-8",
                    f"void with balance {invoice.balance}, {invoice.allocated} allocated "
                    f"and {invoice.credited} credited",
                )
            )
        return [Problem("invoices", name, message, rule) for rule, message in found]
    expected = max(invoice.total, Decimal(0)) - invoice.allocated - invoice.credited
    if invoice.balance != expected:
        found.append(
            (
                "R-INV-7",
                f"balance {invoice.balance} != total {invoice.total} − allocated "
                f"{invoice.allocated} − credited {invoice.credited} = {expected}",
            )
        )
    if invoice.status == "draft":
        if invoice.allocated or invoice.credited:
            found.append(("R-RUN-12", "a draft with payments or credit notes"))
    elif invoice.status != settled_status(invoice.total, invoice.balance):
        status = settled_status(invoice.total, invoice.balance)
        found.append(("R-INV-7", f"status {invoice.status}, its balance says {status}"))
    return [Problem("invoices", name, message, rule) for rule, message in found]


def payment_problems(
    payment_id: int, amount: Decimal, unallocated: Decimal, refunded: Decimal, allocated: Decimal
) -> list[Problem]:
    """A payment is wholly accounted for: allocated + unapplied credit + refunded
    = its amount, with no negative part (R-PAY-2)."""
    name = f"payment {payment_id}"
    problems = []
    if allocated + unallocated + refunded != amount:
        problems.append(
            Problem(
                "invoices",
                name,
                f"amount {amount} != allocated {allocated} + unapplied {unallocated} "
                f"+ refunded {refunded}",
                "R-PAY-2",
            )
        )
    if unallocated < 0:
        problems.append(Problem("invoices", name, f"unapplied credit {unallocated}", "R-PAY-2"))
    return problems


# -- orphans ------------------------------------------------------------------------------


def allocation_problems(
    allocation_id: int, payment_found: bool, invoice_id: int, invoice_status: str | None
) -> list[Problem]:
    """An allocation joins an existing payment to an existing invoice that is not void
    (a void invoice has no allocations: R-INV-8)."""
    name = f"allocation {allocation_id}"
    problems = []
    if not payment_found:
        problems.append(Problem("allocations", name, "its payment does not exist", "R-PAY-2"))
    if invoice_status is None:
        problems.append(
            Problem("allocations", name, f"its invoice id {invoice_id} does not exist", "R-PAY-2")
        )
    elif invoice_status in ("void", "draft"):
        problems.append(
            Problem(
                "allocations", name, f"its invoice id {invoice_id} is {invoice_status}", "R-INV-8"
            )
        )
    return problems


def credit_note_problems(
    note_id: int, number: str, invoice_id: int, invoice_status: str | None
) -> list[Problem]:
    """A credit note reduces an existing invoice that is not void (R-CN-1, R-INV-8)."""
    name = f"credit note {number} (id {note_id})"
    if invoice_status is None:
        return [
            Problem("allocations", name, f"its invoice id {invoice_id} does not exist", "R-CN-1")
        ]
    if invoice_status in ("void", "draft"):
        return [
            Problem(
                "allocations", name, f"its invoice id {invoice_id} is {invoice_status}", "R-INV-8"
            )
        ]
    return []


# -- numbering ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberingSettings:
    """An enterprise's numbering of one kind of document (R-NUM-1, R-NUM-4, R-NUM-5)."""

    pattern: str
    start: int
    reset: str


@dataclass(frozen=True, slots=True)
class Numbered:
    """A numbered invoice or credit note."""

    id: int
    number: str
    issue_date: dt.date
    created_at: dt.datetime


Timeline = Sequence[tuple[dt.datetime | None, NumberingSettings]]
"""Numbering settings and when they took effect, oldest first (``None``: from the start)."""


NUMBERING_FIELDS = {
    "invoice": ("invoice_pattern", "invoice_start", "invoice_reset"),
    "credit note": ("credit_note_pattern", "credit_note_start", "credit_note_reset"),
}
"""The enterprise fields that hold each kind's settings."""


def numbering_timeline(
    kind: str,
    current: NumberingSettings,
    changes: Sequence[tuple[dt.datetime, Mapping[str, Sequence[str | None]]]],
) -> Timeline:
    """The settings of one kind over time, from the current ones and the enterprise's
    recorded changes (oldest first: when, ``{field: [old, new]}``, as the audit trail
    of ``enterprise.updated`` holds them)."""
    pattern_field, start_field, reset_field = NUMBERING_FIELDS[kind]
    settings, entries = current, []
    for when, change in reversed(changes):
        if not {pattern_field, start_field, reset_field} & set(change):
            continue
        entries.append((when, settings))
        settings = NumberingSettings(
            str(change.get(pattern_field, [settings.pattern])[0]),
            int(str(change.get(start_field, [settings.start])[0])),
            str(change.get(reset_field, [settings.reset])[0]),
        )
    entries.append((None, settings))
    return entries[::-1]


def settings_at(timeline: Timeline, when: dt.datetime) -> NumberingSettings:
    """The settings in effect when a document was made."""
    current = timeline[0][1]
    for since, settings in timeline:
        if since is None or since <= when:
            current = settings
    return current


def _missing(low: int, high: int, others: Sequence[int]) -> list[tuple[int, int]]:
    """The runs ``(first, last)`` of the values from ``low`` to ``high`` (inclusive) not in
    ``others`` (sorted): what a sequence lacks there that no other sequence holds."""
    runs = []
    index = bisect.bisect_left(others, low)
    value = low
    while value <= high:
        if index < len(others) and others[index] <= high:
            if others[index] > value:
                runs.append((value, others[index] - 1))
            value = max(value, others[index] + 1)
            index += 1
        else:
            runs.append((value, high))
            break
    return runs


def _spans(runs: Sequence[tuple[int, int]]) -> str:
    """``5``, ``5..7``; several joined by commas, the first few."""
    shown = [str(a) if a == b else f"{a}..{b}" for a, b in runs[:5]]
    return ", ".join(shown) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")


@dataclass(frozen=True, slots=True)
class _Read:
    """A number read: its ``%num%`` value and its shape, the number with the value left
    out (``#/2026``): two numbers are the same exactly when both are."""

    value: int
    document: Numbered
    shape: str


def _shape(pattern: str, issue_date: dt.date) -> str:
    return format_number(pattern.replace("%num%", "#"), 0, issue_date)


def numbering_problems(
    label: str, kind: str, documents: Iterable[Numbered], timeline: Timeline
) -> list[Problem]:
    """One enterprise's numbers of one kind (``invoice`` or ``credit note``): within each
    sequence (R-NUM-4, R-NUM-5) the ``%num%`` values run without a gap from the start
    and are unique (R-NUM-3), and a higher number never has an earlier issue date
    (R-NUM-6).

    Each document is read with the settings in effect when it was made (``timeline``).
    After a change of pattern, start or reset a sequence passes over the numbers other
    sequences already hold (docs/billing-rules.md, "Numbering"): a value missing from a
    sequence whose number another sequence holds is no gap."""
    problems: list[Problem] = []
    sequences: dict[str, list[_Read]] = {}
    starts: dict[str, set[int]] = {}
    patterns = list(dict.fromkeys(s.pattern for _, s in reversed(timeline)))
    for document in documents:
        settings = settings_at(timeline, document.created_at)
        # the pattern in effect, else one of another time (e.g. a change's own moment)
        for pattern in dict.fromkeys([settings.pattern, *patterns]):
            value = number_value(pattern, document.issue_date, document.number)
            if value is not None:
                break
        else:
            problems.append(
                Problem(
                    "numbering",
                    f"{label} {kind} {document.number}",
                    f"follows none of the patterns {', '.join(map(repr, patterns))}",
                    "R-NUM-1",
                )
            )
            continue
        key = sequence_key(settings.reset, document.issue_date)
        read = _Read(value, document, _shape(pattern, document.issue_date))
        sequences.setdefault(key, []).append(read)
        starts.setdefault(key, set()).add(settings.start)
    holders: dict[tuple[str, int], set[str]] = {}
    for key, reads in sequences.items():
        for read in reads:
            holders.setdefault((read.shape, read.value), set()).add(key)
    for key, reads in sorted(sequences.items()):

        def elsewhere(shapes: Iterable[str], key: str = key) -> list[int]:
            """The values of these shapes that other sequences hold."""
            wanted = set(shapes)
            return sorted(v for (s, v), keys in holders.items() if s in wanted and keys - {key})

        problems += _sequence_problems(
            f"{label} {kind} numbers" + (f" of {key}" if key else ""),
            sorted(reads, key=lambda r: (r.value, r.document.id)),
            starts[key],
            elsewhere,
        )
    return problems


def _sequence_problems(
    name: str,
    reads: list[_Read],
    starts: set[int],
    elsewhere: Callable[[Iterable[str]], list[int]],
) -> list[Problem]:
    """One sequence, in ``%num%`` order."""
    problems = []
    skipped: dict[frozenset[str], list[int]] = {}

    def missing(low: int, high: int, *around: _Read) -> list[tuple[int, int]]:
        if low > high:
            return []
        shapes = frozenset(r.shape for r in around)
        if shapes not in skipped:
            skipped[shapes] = elsewhere(shapes)
        return _missing(low, high, skipped[shapes])

    first = reads[0]
    before = missing(min(starts), first.value - 1, first)
    if before and first.value not in starts:
        problems.append(
            Problem(
                "numbering",
                name,
                f"start at {first.document.number}: {_spans(before)} missing",
                "R-NUM-3",
            )
        )
    for early, late in itertools.pairwise(reads):
        a, b = early.document, late.document
        if early.value == late.value:
            problems.append(
                Problem(
                    "numbering", name, f"{a.number} and {b.number} share {early.value}", "R-NUM-3"
                )
            )
        gap = missing(early.value + 1, late.value - 1, early, late)
        if gap:
            problems.append(
                Problem(
                    "numbering",
                    name,
                    f"gap: {_spans(gap)} missing between {a.number} and {b.number}",
                    "R-NUM-3",
                )
            )
        if b.issue_date < a.issue_date:
            problems.append(
                Problem(
                    "numbering",
                    name,
                    f"{b.number} is dated {b.issue_date}, before {a.number} ({a.issue_date})",
                    "R-NUM-6",
                )
            )
    return problems


# -- documents, outbox, runs --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file found under the documents directory."""

    path: str
    size: int
    modified: dt.datetime


def missing_files(
    job_name: str,
    formats: Sequence[str],
    paths: Mapping[str, str],
    sizes: Mapping[str, int | None],
) -> list[Problem]:
    """A ready document job has a Document row per format (``paths``: format -> path),
    each file there and not empty (``sizes``: path -> size, None if absent) (R-INV-11)."""
    problems = []
    for fmt in formats:
        path = paths.get(fmt)
        if path is None:
            message = f"ready, but it has no {fmt} document"
        elif sizes.get(path) is None:
            message = f"{fmt} file missing: {path}"
        elif sizes[path] == 0:
            message = f"{fmt} file is empty: {path}"
        else:
            continue
        problems.append(Problem("documents", job_name, message, "R-INV-11"))
    return problems


def stray_files(
    files: Iterable[StoredFile],
    referenced: set[str],
    *,
    in_flight_since: dt.datetime | None,
) -> list[Problem]:
    """Files in the documents directory that no document names: a render whose commit
    never came (a crash between the write and the commit), a ``.partial`` left by a
    full disk. A file written since ``in_flight_since`` (set while a render is under
    way) may still be committed and is not reported."""
    problems = []
    for stored in files:
        if stored.path in referenced:
            continue
        if in_flight_since is not None and stored.modified >= in_flight_since:
            continue
        what = "an empty file" if stored.size == 0 else f"{stored.size} bytes"
        problems.append(
            Problem("documents", f"file {stored.path}", f"stray: {what} that no document names")
        )
    return problems


def stuck_claim(
    claimed_at: dt.datetime | None, claimer_gone: bool, now: dt.datetime, lease: dt.timedelta
) -> str | None:
    """Why a claimed row (a document job rendering, a message sending) is stuck: its
    claimer's process is gone, or its lease lapsed; None while the claim holds."""
    if claimer_gone:
        return "its claimer's process is gone"
    if claimed_at is None or claimed_at < now - lease:
        since = "ever" if claimed_at is None else f"{claimed_at:%Y-%m-%d %H:%M:%S} UTC"
        return f"claimed since {since}, longer than its lease of {lease}"
    return None
