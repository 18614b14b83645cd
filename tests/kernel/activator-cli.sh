#!/usr/bin/env bash
# activator-cli.sh ACTIVATOR
# The activator's kernel mode without a kernel device: usage errors exit 2
# with a message, a missing device exits 3 naming it and what is needed,
# and no trace file is left behind in either case.
set -u
act=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
expect() {	# expect STATUS PATTERN ARGS...
	local want=$1 pat=$2 st
	shift 2
	"$act" "$@" >"$tmp/out" 2>&1
	st=$?
	if [ $st -eq "$want" ] && grep -q -- "$pat" "$tmp/out"; then
		echo "ok - activator $* -> $st"
	else
		echo "not ok - activator $*: exit $st (want $want), output:"
		sed 's/^/    /' "$tmp/out"
		bad=1
	fi
}
expect 2 usage "$tmp/k"
expect 2 usage "$tmp/k" "$tmp/r" "$tmp/x"
expect 2 "no COMMAND" "$tmp/k" "$tmp/r" --
expect 2 "power of two" --buffer-size 1000 "$tmp/k" "$tmp/r"
expect 2 "power of two" --buffer-size 32K "$tmp/k" "$tmp/r"
expect 2 "positive number" --duration -1 "$tmp/k" "$tmp/r"
expect 2 "unknown" --codec lzma "$tmp/k" "$tmp/r"
expect 3 "$tmp/nodev: No such file" --device "$tmp/nodev" "$tmp/k" "$tmp/r"
expect 3 "CONFIG_KVMTRACE" --device "$tmp/nodev" --buffer-size 1M \
	"$tmp/k" "$tmp/r" -- true
: >"$tmp/notdev"
expect 3 "cannot start tracing" --device "$tmp/notdev" "$tmp/k" "$tmp/r"
if [ -e "$tmp/k" ] || [ -e "$tmp/r" ]; then
	echo "not ok - a failed start left trace files behind"
	bad=1
fi
exit $bad
