"""Benchmarks: `make check` latency and autograde throughput, each against torch's import time."""
