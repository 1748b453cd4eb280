"""Development benchmarks: standalone scripts (bench_review.py, bench_flags_after_import.py) and the
benchmark management commands, a Django app installed only with DEBUG on or BENCHMARKS=1."""
