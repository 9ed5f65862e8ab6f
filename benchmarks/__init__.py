"""Benchmarks of airflow-provider-genai-batch against the anchors users have today.

Run them all with ``make bench`` (it builds ``.bench-venv`` with the anchors installed and rewrites
``BENCHMARKS.md``), or one at a time from that venv::

    .bench-venv/bin/python -m benchmarks                       # all six, rewrites BENCHMARKS.md
    .bench-venv/bin/python -m benchmarks --quick --output -    # tiny sizes, markdown to stdout
    .bench-venv/bin/python -m benchmarks.poll_cost --quick     # one benchmark

Nothing here runs in ``make test``. Servers bind 127.0.0.1 only; every load loop is bounded in count and time.
"""
