# Sourced by the tests/valgrind/*.sh tests.  Programs (override by env):
# ACT the activator (sanitizer build), WL the sample workload (release:
# it runs under Valgrind), DUMP kvt-dump, MERGER run-merger, LRU kvt-lru.
set -u
ACT=${ACT:-build/san/bin/activator}
WL=${WL:-bin/kvt-sample-workload}
DUMP=${DUMP:-build/san/bin/kvt-dump}
MERGER=${MERGER:-build/san/bin/run-merger}
LRU=${LRU:-build/san/tests/kvt-lru}
# The workload's working-set loops at a small size (KiB): the checks that
# compare with lackey or with --pool 0 stay fast.
WK=${KVT_TEST_WORK:-64}
for p in "$ACT" "$WL" "$DUMP"; do
	[ -x "$p" ] || { echo "missing program: $p (make all, make SAN=1 all)"; exit 1; }
done
T=$(mktemp -d /tmp/kvt-vgtest.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/wd"
fail() { echo "FAIL: $*"; exit 1; }
