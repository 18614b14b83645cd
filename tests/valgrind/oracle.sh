#!/usr/bin/env bash
# Real recordings through the differential test (tests/diff/check-recording):
# the Valgrind collector records the sample workload (threads, a fork, a
# clone(CLONE_VM) that execs, shmem three ways, a shared and a private file
# mapping, brk, mremap, munmap), with its pool and without, and a shell
# pipeline (sh forks and execs ls, sort, head and gzip); for each,
# run-merger (every consumer, text, and the pages each record ends) must
# give what kvt-oracle gives.
. tests/valgrind/common.sh
B=${DIFF_BIN:-build/san/bin}
export DIFF_GONE_SO=${DIFF_GONE_SO:-build/tests/gone-dump.so}
export DIFF_FAILDIR=${DIFF_FAILDIR:-build/diff-fail-recording}
[ -f "$DIFF_GONE_SO" ] || fail "missing $DIFF_GONE_SO"
st=0
rec() {	# rec NAME ACTIVATOR-ARGS... -- COMMAND...: record, then check
	local name=$1
	shift
	"$ACT" --valgrind -q "$@" >"$T/$name.out" 2>&1 ||
		fail "$name: the recording failed: $(tail -n 3 "$T/$name.out")"
	tests/diff/check-recording "$B" "$T/$name.k" "$T/$name.r" "$name" || st=1
}
rec workload "$T/workload.k" "$T/workload.r" -- "$WL" --work $WK "$T/wd" 64
rec workload-pool0 --pool 0 "$T/workload-pool0.k" "$T/workload-pool0.r" -- \
	"$WL" --work 64 "$T/wd" 16
rec pipeline "$T/pipeline.k" "$T/pipeline.r" -- sh -c \
	'ls /usr/bin | sort -r | head -n 3; echo kvmtrace | gzip -c | gzip -dc'
exit $st
