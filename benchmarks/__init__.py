"""Benchmarks: our overhead and throughput side by side with the official ``sentrial`` SDK and Langfuse.

Run ``python -m benchmarks`` (full, a few minutes) or ``python -m benchmarks --smoke`` (seconds, for CI).
See ``benchmarks/README_SECTION.md``.
"""
