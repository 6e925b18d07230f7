"""CardTrail's benchmarks, side by side with peers and with the machine's limit.

Scripts, not tests: ``make bench`` (``python -m bench``) runs every section and writes
``docs/benchmarks.md`` and ``bench/results.json``.
"""
