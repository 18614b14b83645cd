#!/usr/bin/env bash
# kVMTrace's argument for the pool: LRU memories of 4N, 8N and 30N pages
# take nearly the same faults on the pool-filtered recording as on the
# full one (--pool 0) of the same deterministic workload.  Asserts < 1% at
# 30N for N = 16 and 64 (the workload's footprint is some 5000 pages).
. tests/valgrind/common.sh
[ -x "$LRU" ] || fail "missing $LRU"
P=256
FW=${KVT_FIDELITY_WORK:-1024}	# KiB: the stencil and the hash join too
"$ACT" --valgrind --pool 0 -q "$T/k0" "$T/r0" -- "$WL" --work $FW "$T/wd" $P >/dev/null || fail "pool 0"
st=0
for N in 16 64; do
	"$ACT" --valgrind --pool $N -q "$T/k$N" "$T/r$N" -- "$WL" --work $FW "$T/wd" $P >/dev/null ||
		fail "pool $N"
	"$LRU" "$T/k$N" "$T/r$N" $((4 * N)) $((8 * N)) $((30 * N)) >"$T/f$N" || fail "kvt-lru"
	"$LRU" "$T/k0" "$T/r0" $((4 * N)) $((8 * N)) $((30 * N)) >"$T/full$N" || fail "kvt-lru"
	paste "$T/f$N" "$T/full$N" | awk -v N=$N '
		{ d = ($2 - $5) / $5; if (d < 0) d = -d
		  printf "N=%d M=%d faults pool %d full %d diff %.3f%% (refs %d / %d)\n",
			N, $1, $2, $5, 100 * d, $3, $6
		  if ($1 == 30 * N && d >= 0.01) bad = 1 }
		END { exit bad }' || st=1
done
exit $st
