"""Benchmark implementations behind ``scripts/benchmark.py``, one module per subject.

Each module exposes ``add_arguments(parser)`` and ``run(args) -> dict`` (``data`` also hosts the
``batches`` pair, ``add_batches_arguments``/``run_batches``); the dispatcher imports only the module
of the chosen benchmark and prints the returned dict as the last line of stdout.
"""
