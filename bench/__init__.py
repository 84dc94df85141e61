"""The benchmark suite: `make bench` (quick) and `make bench-full`; see docs/benchmarks.md."""
