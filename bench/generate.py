"""A month of a telecom, generated: the CSV files ``billingctl`` imports, seeded.

Writes into a folder:

* ``setup.json``: the month, the two enterprises (EUR and CHF) and the resellers a
  scenario creates first (with ``billingctl enterprise add`` / ``reseller add``; on an
  empty database they get ids 1, 2, ... in this order, the ids the files refer to);
* ``clients.csv`` (``billingctl client import``): N clients, four in five of the EUR
  enterprise, one in ten with a reseller of its enterprise, all with invoices sent by
  email; on an empty database they get ids 1..N in file order;
* ``contracts.csv`` (``billingctl contract import``): one contract per client, monthly
  in advance mostly, some monthly in arrears, quarterly and yearly, anchored so that
  each falls due exactly once on the 1st of the month after ``--month``: a run up to
  that day issues one invoice per client (contracts imported during the month are not
  back-billed, R-RUN-8);
* ``usage.csv`` (``billingctl usage import``): K rated usage records spread over the
  month in time order (local days of both enterprises), with unique external ids.

The same seed writes the same bytes. Rows are written as they are made: memory stays
flat whatever N and K.

    python bench/generate.py OUT                       # 10,000 clients, 1,000,000 rows
    python bench/generate.py OUT -n 1000 -k 100000 --month 2026-01
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ENTERPRISES = (  # enterprise.add parameters
    {"name": "Bench Telecom GmbH", "currency": "EUR", "timezone": "Europe/Berlin",
     "tax_rate": "19", "email": "billing@telecom.test"},
    {"name": "Bench Telecom AG", "currency": "CHF", "timezone": "Europe/Zurich",
     "tax_rate": "8.1", "email": "billing@telecom.test"},
)  # fmt: skip
CLIENT_COLUMNS = ("name", "enterprise", "reseller", "email", "send-email", "company", "country")
CONTRACT_COLUMNS = ("client", "description", "price", "cycle", "interval", "start", "timing")
USAGE_COLUMNS = (
    "client", "occurred_at", "destination", "destination_group",
    "quantity", "unit", "amount", "external_id",
)  # fmt: skip
GROUPS = (  # destination group, prefix, unit, price per unit (EUR; CHF the same figures)
    ("Fixed DE", "+4930", "s", 0.0002),
    ("Mobile DE", "+49151", "s", 0.0012),
    ("Fixed CH", "+4144", "s", 0.0004),
    ("International", "+1212", "s", 0.0025),
    ("Data", "apn.bench", "MB", 0.0010),
)
PLANS = (  # (share in percent, description, price, cycle, interval, timing)
    (80, "Hosted PBX", "49.90", "month", 1, "advance"),
    (8, "SIP trunk usage", "12.00", "month", 1, "arrears"),
    (7, "Call centre seats", "270.00", "month", 3, "advance"),
    (5, "Number block", "480.00", "year", 1, "advance"),
)


@dataclass(frozen=True)
class Month:
    """The billed month: its first day and the first day of the next."""

    first: dt.date
    next: dt.date

    @classmethod
    def parse(cls, text: str) -> Month:
        first = dt.date.fromisoformat(f"{text}-01")
        return cls(first, (first + dt.timedelta(days=32)).replace(day=1))


@dataclass(frozen=True)
class Sizes:
    clients: int = 10_000
    usage: int = 1_000_000
    month: str = "2026-01"
    seed: int = 13

    @property
    def resellers(self) -> int:
        return max(2, self.clients // 500)


def enterprise_of(client: int) -> int:
    """Client ids 1..N: every fifth belongs to the CHF enterprise (id 2)."""
    return 2 if client % 5 == 0 else 1


def enterprise_of_reseller(reseller: int) -> int:
    return 2 if reseller % 2 == 0 else 1


def clients(sizes: Sizes, rng: random.Random) -> Iterator[tuple[object, ...]]:
    own = {
        e: [r for r in range(1, sizes.resellers + 1) if enterprise_of_reseller(r) == e]
        for e in (1, 2)
    }
    for n in range(1, sizes.clients + 1):
        enterprise = enterprise_of(n)
        reseller = rng.choice(own[enterprise]) if rng.random() < 0.1 else ""
        country = "CH" if enterprise == 2 else "DE"
        yield (f"Client {n:06d}", enterprise, reseller, f"billing{n}@example.com", "true",
               f"Company {n % 997:03d}", country)  # fmt: skip


def _anchor(month: Month, cycle: str, interval: int, rng: random.Random) -> dt.date:
    """A start in the year before ``month.next`` whose cycle starts on ``month.next``."""
    months_back = rng.randrange(1, 12) if cycle == "month" else 12 if cycle == "year" else 0
    if cycle == "month" and interval > 1:
        months_back = interval * rng.randrange(1, 4)
    total = month.next.year * 12 + month.next.month - 1 - months_back
    return dt.date(total // 12, total % 12 + 1, 1)


def contracts(sizes: Sizes, rng: random.Random) -> Iterator[tuple[object, ...]]:
    month = Month.parse(sizes.month)
    weights = [p[0] for p in PLANS]
    for n in range(1, sizes.clients + 1):
        _, description, price, cycle, interval, timing = rng.choices(PLANS, weights)[0]
        start = _anchor(month, cycle, interval, rng)
        yield n, description, price, cycle, interval, start.isoformat(), timing


def usage(sizes: Sizes, rng: random.Random) -> Iterator[tuple[object, ...]]:
    """K records in time order, between 01:00 UTC on the 1st and 22:00 UTC on the last
    day (inside the month in both enterprises' time zones)."""
    month = Month.parse(sizes.month)
    begin = dt.datetime.combine(month.first, dt.time(1))
    span = (dt.datetime.combine(month.next, dt.time()) - begin).total_seconds() - 3 * 3600
    step = span / max(sizes.usage, 1)
    for n in range(sizes.usage):
        client = rng.randrange(1, sizes.clients + 1)
        group, prefix, unit, price = GROUPS[rng.randrange(len(GROUPS))]
        quantity = rng.randrange(1, 3600)
        at = begin + dt.timedelta(seconds=int(n * step))
        yield (client, f"{at.isoformat()}Z", f"{prefix}{rng.randrange(10**6):06d}", group,
               quantity, unit, f"{quantity * price:.4f}", f"cdr-{n + 1:08d}")  # fmt: skip


def _write(path: Path, header: tuple[str, ...], rows: Iterator[tuple[object, ...]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def setup(sizes: Sizes) -> dict[str, object]:
    """What ``setup.json`` holds: what the scenario creates before importing, and the
    test clock's instants: while importing (the month's last day), for the run."""
    month = Month.parse(sizes.month)
    return {
        **asdict(sizes),
        "next_month": month.next.isoformat(),
        "import_clock": f"{month.next - dt.timedelta(days=1)}T12:00",  # the test clock
        "run_clock": f"{month.next}T05:00",
        "enterprises": list(ENTERPRISES),
        "groups": [list(group) for group in GROUPS],
        "resellers": [
            {"name": f"Reseller {r:03d}", "enterprise": enterprise_of_reseller(r)}
            for r in range(1, sizes.resellers + 1)
        ],
    }


def generate(folder: Path, sizes: Sizes) -> dict[str, object]:
    """Write the four files into ``folder``; the contents of ``setup.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = setup(sizes)
    (folder / "setup.json").write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    rng = random.Random(sizes.seed)
    _write(folder / "clients.csv", CLIENT_COLUMNS, clients(sizes, rng))
    _write(folder / "contracts.csv", CONTRACT_COLUMNS, contracts(sizes, rng))
    _write(folder / "usage.csv", USAGE_COLUMNS, usage(sizes, rng))
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("-n", "--clients", type=int, default=Sizes.clients)
    parser.add_argument("-k", "--usage", type=int, default=Sizes.usage, help="usage rows")
    parser.add_argument("--month", default=Sizes.month, help="YYYY-MM (default 2026-01)")
    parser.add_argument("--seed", type=int, default=Sizes.seed)
    args = parser.parse_args(argv)
    sizes = Sizes(args.clients, args.usage, args.month, args.seed)
    generate(args.folder, sizes)
    print(f"{args.folder}: {sizes.clients} clients and contracts, {sizes.usage} usage rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
