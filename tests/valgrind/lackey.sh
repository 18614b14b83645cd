#!/usr/bin/env bash
# --pool 0 records as many references as lackey --trace-mem=yes sees: I, L
# and S lines count one, M lines two.  Both runs get the same environment
# (the tool directory in VALGRIND_LIB and KVT_VALGRIND_LIB) so that the
# program does the same work.  Lackey's log of a process that execs is
# replaced by the new program's, so the references a task makes between
# its fork and its exec are left out of our count too.  Our count
# counts an access that spans two pages as two references, one per page,
# and so does the expected count.
. tests/valgrind/common.sh
command -v valgrind >/dev/null || fail "valgrind not installed"
P=64
VGDIR=$(dirname "$(readlink -f build/vgtool/kvtrace-amd64-linux)")
LK=$(dirname "$(readlink -f "$VGDIR/vgpreload_core-amd64-linux.so")")/lackey-amd64-linux
mkdir "$T/tl"
ln -s "$VGDIR/kvtrace-amd64-linux" "$VGDIR/vgpreload_core-amd64-linux.so" "$LK" "$T/tl/"
export KVT_VALGRIND_LIB=$T/tl VALGRIND_LIB=$T/tl
valgrind --tool=lackey --trace-mem=yes --trace-children=yes -q \
	--log-file="$T/lk.%p" "$WL" --work $WK "$T/wd" $P >/dev/null || fail "lackey"
"$ACT" --valgrind --pool 0 --no-syscall-refs -q "$T/k" "$T/r" -- "$WL" --work $WK "$T/wd" $P \
	>/dev/null || fail "activator"
"$DUMP" "$T/k" "$T/r" >"$T/dump.txt" || fail "kvt-dump"
python3 - "$T" <<'PY'
import glob, sys
t = sys.argv[1]
lk = spans = 0
for f in glob.glob(t + '/lk.*'):
    for line in open(f):
        p = line.split()
        if len(p) != 2 or p[0] not in ('I', 'L', 'S', 'M'):
            continue
        a, s = p[1].split(',')
        a, s = int(a, 16), int(s)
        lk += 2 if p[0] == 'M' else 1
        if a >> 12 != (a + s - 1) >> 12:
            spans += 2 if p[0] == 'M' else 1
ours = 0
forked = set()
pre = {}
for line in open(t + '/dump.txt'):
    w = line.split()
    if w[0] == 'clone' and w[3] == 'flags=-':
        forked.add(w[2][6:])
    elif w[0] == 'exec':
        forked.discard(w[1][4:])
        # the references of this task since its fork: not in lackey's log
        ours -= pre.get(w[1][4:], 0)
    elif w[0] in ('read', 'write'):
        ours += 1
        tid = w[1][4:]
        if tid in forked:
            pre[tid] = pre.get(tid, 0) + 1
# An access that spans two pages is two references (one per page).
want = lk + spans
diff = (ours - want) / want
print('lackey %d lines-as-references, %d of them span two pages: %d '
      'page references; kvtrace --pool 0: %d (%+.4f%%; %+.4f%% against '
      'the bare line count)' % (lk, spans, want, ours, 100 * diff,
                                100 * (ours - lk) / lk))
sys.exit(0 if abs(diff) < 0.001 else 1)
PY
