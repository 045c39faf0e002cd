"""django-silver's side of ``bench/silver.py``; runs in silver's own virtual environment
(no billingd import here).

    python silver_side.py DATA_FOLDER WORK_FOLDER

Loads the generator's month (``bench/generate.py``) into a fresh SQLite database: one
provider per enterprise (invoices issued straight away), one customer per client with
its enterprise's tax rate and currency, one plan per (contract kind, currency) with a
metered feature per destination group priced like the generator's usage, one
subscription per contract, active from the 1st of the month, and the month's usage
summed per client and destination group into silver's units logs. Then times silver's
own ``generate_docs --date`` for the 1st of the next month: each customer's first
invoice (the plan and the month's metered units; PDFs are rendered later by silver's
``generate_pdfs``, not timed, as billingd's are by its document queue). Prints JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import django
from django.conf import settings

CHUNK = 2000
APPS = (
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "django_filters",
    "silver",
)


def configure(work: Path) -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=list(APPS),
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(work / "s.db")}},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": []},
            }
        ],
        MEDIA_ROOT=str(work / "media"),
        MEDIA_URL="/media/",
        STATIC_URL="/static/",
        PAYMENT_METHOD_SECRET=b"MOW_x1k-ayes3KqnFHNZUxvKipC8iLjxiczEN76TIEA=",
        PAYMENT_PROCESSORS={},
        SILVER_AUTOMATICALLY_CREATE_TRANSACTIONS=False,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LOGGING_CONFIG=None,
    )
    django.setup()


def rows(path: Path):  # type: ignore[no-untyped-def]
    with path.open(newline="", encoding="utf-8") as stream:
        yield from csv.DictReader(stream)


def load(data: Path, plan: dict) -> int:  # type: ignore[type-arg]
    """The month into silver's models; the number of customers."""
    from silver.models import (
        Customer,
        MeteredFeature,
        MeteredFeatureUnitsLog,
        Plan,
        ProductCode,
        Provider,
        Subscription,
    )

    month = dt.date.fromisoformat(f"{plan['month']}-01")
    last = dt.date.fromisoformat(plan["next_month"]) - dt.timedelta(days=1)
    code = ProductCode.objects.create(value="bench")
    providers, features, plans = {}, {}, {}
    for number, enterprise in enumerate(plan["enterprises"], start=1):
        currency = enterprise["currency"]
        providers[number] = Provider.objects.create(
            name=enterprise["name"], company=enterprise["name"], address_1="Street 1",
            country="DE" if currency == "EUR" else "CH", city="City", flow="invoice",
            invoice_series=f"INV{currency}", invoice_starting_number=1,
            proforma_series=f"PRO{currency}", proforma_starting_number=1,
            default_document_state="issued", prebill_plan=True,
        )  # fmt: skip
        for group, _, unit, price in plan["groups"]:
            features[number, group] = MeteredFeature.objects.create(
                name=f"{group} {currency}", unit=unit, price_per_unit=Decimal(str(price)),
                included_units=Decimal(0), product_code=code,
            )  # fmt: skip
    customers, enterprise_of = [], {}
    for number, row in enumerate(rows(data / "clients.csv"), start=1):
        enterprise_of[number] = int(row["enterprise"])
        enterprise = plan["enterprises"][enterprise_of[number] - 1]
        customers.append(
            Customer(
                id=number, first_name=row["name"], last_name="", company=row["company"],
                email=row["email"], address_1="Street 1", country=row["country"], city="City",
                consolidated_billing=True, sales_tax_percent=Decimal(enterprise["tax_rate"]),
                sales_tax_name="VAT", currency=enterprise["currency"], payment_due_days=14,
            )
        )  # fmt: skip
    Customer.objects.bulk_create(customers, batch_size=CHUNK)
    subscriptions = []
    for number, row in enumerate(rows(data / "contracts.csv"), start=1):
        enterprise = enterprise_of[int(row["client"])]
        key = (enterprise, row["description"])
        if key not in plans:
            plans[key] = Plan.objects.create(
                name=f"{row['description']} {enterprise}", amount=Decimal(row["price"]),
                interval="year" if row["cycle"] == "year" else "month",
                interval_count=int(row["interval"]), generate_after=0,
                currency=plan["enterprises"][enterprise - 1]["currency"],
                product_code=code, provider=providers[enterprise], prebill_plan=True,
            )  # fmt: skip
            plans[key].metered_features.set(f for (e, _), f in features.items() if e == enterprise)
        subscriptions.append(
            Subscription(
                id=number, plan=plans[key], customer_id=int(row["client"]),
                start_date=month, state="active", reference=str(number),
            )
        )  # fmt: skip
    Subscription.objects.bulk_create(subscriptions, batch_size=CHUNK)
    consumed: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for row in rows(data / "usage.csv"):
        consumed[int(row["client"]), row["destination_group"]] += Decimal(row["quantity"])
    logs = [
        MeteredFeatureUnitsLog(
            metered_feature=features[enterprise_of[client], group],
            subscription_id=client,  # one contract per client, in client order
            consumed_units=units,
            start_date=month,
            end_date=last,
        )
        for (client, group), units in consumed.items()
    ]
    MeteredFeatureUnitsLog.objects.bulk_create(logs, batch_size=CHUNK)
    return len(customers)


def main() -> int:
    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    plan = json.loads((data / "setup.json").read_text())
    configure(work)
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter() - started
    started = time.perf_counter()
    customers = load(data, plan)
    loaded = time.perf_counter() - started
    from silver.models import DocumentEntry, Invoice

    started = time.perf_counter()
    billing_date = dt.date.fromisoformat(plan["next_month"])
    call_command("generate_docs", billing_date=billing_date, stdout=sys.stderr)
    seconds = time.perf_counter() - started
    result = {
        "silver": metadata.version("django-silver"),
        "django": django.get_version(),
        "python": sys.version.split()[0],
        "customers": customers,
        "migrate_seconds": round(migrated, 2),
        "load_seconds": round(loaded, 2),
        "invoices": Invoice.objects.count(),
        "issued": Invoice.objects.filter(state="issued").count(),
        "entries": DocumentEntry.objects.count(),
        "seconds": round(seconds, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
