"""Pure billing rules: numbering, periods, cycles, totals, allocation. No I/O."""
