#!/usr/bin/env bash
# Bad input: a clear message and the documented exit status (README).
. tests/valgrind/common.sh
expect() {	# expect STATUS PATTERN COMMAND...
	local want=$1 pat=$2 st
	shift 2
	"$@" >"$T/o" 2>"$T/e"
	st=$?
	cat "$T/e"
	[ $st -eq "$want" ] || fail "$*: exit $st, want $want"
	grep -q -- "$pat" "$T/e" || fail "$*: no message matching '$pat'"
}
expect 2 usage "$ACT" --valgrind "$T/k" "$T/r"
expect 2 "pool" "$ACT" --valgrind --pool x "$T/k" "$T/r" -- true
expect 127 "command not found" "$ACT" --valgrind "$T/k" "$T/r" -- no-such-command-kvt
[ ! -e "$T/k" ] || fail "trace files created for a missing command"
touch "$T/noexec"
expect 126 "not executable" "$ACT" --valgrind "$T/k" "$T/r" -- "$T/noexec"
expect 3 "valgrind not found" env PATH=/nonexistent "$(readlink -f "$ACT")" --valgrind "$T/k" "$T/r" -- /bin/true
expect 3 "tool" env KVT_VALGRIND_LIB=/nonexistent "$ACT" --valgrind "$T/k" "$T/r" -- /bin/true
expect 4 "$T/nodir/k" "$ACT" --valgrind "$T/nodir/k" "$T/r" -- /bin/true
# The command's own status comes through.
expect 3 "processes: 1" "$ACT" --valgrind "$T/k" "$T/r" -- /bin/sh -c 'exit 3'
# A full disk: what was written up to then stays readable.
expect 4 "No space left" "$ACT" --valgrind --pool 0 "$T/k" /dev/full -- "$WL" --work 0 "$T/wd" 64
"$DUMP" "$T/k" >/dev/null 2>"$T/de"; st=$?
cat "$T/de"
[ $st -eq 0 ] || grep -q "cut\|truncat" "$T/de" || fail "ktrace unreadable after a full disk"
# SIGINT: the command is stopped, the streams are closed and readable.
"$ACT" --valgrind "$T/k" "$T/r" -- /bin/sleep 60 >/dev/null 2>"$T/e" &
pid=$!
sleep 3
kill -INT $pid
wait $pid; st=$?
cat "$T/e"
[ $st -eq $((128 + 15)) ] || fail "SIGINT: exit $st, want 143 (sleep ended by SIGTERM)"
grep -q "stopping" "$T/e" || fail "SIGINT: no message"
"$DUMP" "$T/k" "$T/r" >"$T/d" || fail "SIGINT: trace unreadable"
grep -q "^exec .*path=/bin/sleep" "$T/d" || fail "SIGINT: the exec of sleep is missing"
echo "errors: all as documented"
