#!/usr/bin/env bash
# The pool is exact: a recording with --pool N holds exactly the references
# that the unprotected-pool filter (an LRU stack of N pages per address
# space, plus first writes; see kvt-poolsim.c) keeps of the full recording
# (--pool 0) of the same run.  Deterministic runs: sort with a fixed buffer
# and one thread, and the sample workload (its process with threads is
# compared up to its first thread).  Pools from 4 pages (every superblock
# checks its fetches one by one) to 512 (fetch times and access groups
# deferred to the superblock's exits).
. tests/valgrind/common.sh
SIM=${SIM:-build/san/tests/kvt-poolsim}
[ -x "$SIM" ] || fail "missing $SIM"
awk 'BEGIN { srand(7); for (i = 0; i < 4000; i++)
	printf "%08x %d\n", int(rand() * 4294967295), i }' >"$T/in.txt"
SORT=(sort -S 4M --parallel=1 "$T/in.txt")
P=64
"$ACT" --valgrind --pool 0 -q "$T/s0k" "$T/s0r" -- "${SORT[@]}" >/dev/null ||
	fail "sort, pool 0"
"$ACT" --valgrind --pool 0 -q "$T/w0k" "$T/w0r" -- "$WL" --work $WK "$T/wd" $P >/dev/null ||
	fail "workload, pool 0"
st=0
for N in 4 32 512; do
	"$ACT" --valgrind --pool $N -q "$T/sk" "$T/sr" -- "${SORT[@]}" >/dev/null ||
		fail "sort, pool $N"
	echo "sort, pool $N:"
	"$SIM" $N "$T/s0k" "$T/s0r" "$T/sk" "$T/sr" || st=1
done
for N in 16 512; do
	"$ACT" --valgrind --pool $N -q "$T/wk" "$T/wr" -- "$WL" --work $WK "$T/wd" $P >/dev/null ||
		fail "workload, pool $N"
	echo "workload, pool $N:"
	"$SIM" $N "$T/w0k" "$T/w0r" "$T/wk" "$T/wr" || st=1
done
exit $st
