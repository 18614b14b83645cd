# bench/merger/: run-merger on a kvt-gen trace (BENCH_REFS, default 100M
# references; BENCH_PROCS, default 100; BENCH_GEN_OPTS, default --fresh 10;
# BENCH_CODECS, default gzip-blocks zstd; BENCH_REPEAT, default 1), basic
# and per-process; figures in build/bench/merger.txt (merger/README.md
# explains them).
.PHONY: bench-merger
bench-merger: $(BIN)/run-merger $(BIN)/kvt-gen
	@bash bench/merger/run-bench.sh $(BIN) build/bench/merger.txt

BENCHES += bench-merger
