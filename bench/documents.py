"""PDF rendering throughput: one-page invoices per second in one process.

Renders N one-page invoices (``tests/documents/samples.invoice``, each with its own
number and client name) with the built-in PDF renderer, the way a document-queue
worker process does: fonts, templates and subsets are parsed once, then reused.
The first document (which parses the fonts) is timed separately. Besides wall-clock
documents/s it reports documents per CPU-second of this process, the per-core figure
that other load on a shared machine does not distort.

    python bench/documents.py              # 300 invoices, Latin names
    python bench/documents.py -n 500 --script greek
    python bench/documents.py --profile    # cProfile's top functions
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billingd.rendering import RenderContext, default_template_dirs  # noqa: E402
from billingd_plugins.pdf import PdfRenderer  # noqa: E402
from tests.documents import samples  # noqa: E402


def documents(count: int, script: str) -> list[dict]:
    base = samples.in_script(script) if script != "none" else samples.invoice()
    out = []
    for i in range(count):
        doc = samples.invoice(number=f"INV-2026-{i:05d}", bill_to=dict(base["bill_to"]))
        doc["bill_to"]["company"] = f"{base['bill_to']['company']} {i}"
        out.append(doc)
    return out


def run(count: int, script: str) -> dict[str, float]:
    renderer = PdfRenderer()
    context = RenderContext(default_template_dirs())
    docs = documents(count + 1, script)
    started = time.perf_counter()
    renderer.render(docs[0], context)
    first = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    for doc in docs[1:]:
        renderer.render(doc, context)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "documents": count,
        "script": script,
        "first_document_s": round(first, 3),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "documents_per_second": round(count / seconds, 1),
        "documents_per_cpu_second": round(count / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--documents", type=int, default=300, help="default 300")
    parser.add_argument(
        "--script", default="latin", choices=[*samples.SCRIPT_NAMES, "none"],
        help="the script of the client's name (default latin)",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.profile:
        profile = cProfile.Profile()
        result = profile.runcall(run, args.documents, args.script)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    else:
        result = run(args.documents, args.script)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['documents']} one-page invoices ({result['script']} names): "
        f"{result['documents_per_second']} documents/s in one process, "
        f"{result['documents_per_cpu_second']} per CPU-second "
        f"({result['seconds']} s, {result['cpu_seconds']} s CPU; "
        f"first document {result['first_document_s']} s)"
    )


if __name__ == "__main__":
    main()
