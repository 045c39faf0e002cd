"""``python -m billingd`` is ``billingd``."""

from billingd.cli import main

raise SystemExit(main())
