#!/usr/bin/env bash
# Wall time of the sample workload and of sort(1) natively, under
# valgrind --tool=none, --tool=lackey --trace-mem=yes, and under
# `activator --valgrind` with --pool 512 and --pool 0; bytes written per
# reference; the LRU fidelity table of the pool.  Release binaries.
# Environment: SORT_LINES (1000000), POOL0_SORT_LINES (100000: --pool 0
# records every access, billions on the full input), LACKEY_SORT_LINES
# (5000), PAGES (256).
set -u
ACT=${ACT:-bin/activator}
WL=${WL:-bin/kvt-sample-workload}
LRU=${LRU:-build/rel/tests/kvt-lru}
SORT_LINES=${SORT_LINES:-1000000}
LACKEY_SORT_LINES=${LACKEY_SORT_LINES:-5000}
POOL0_SORT_LINES=${POOL0_SORT_LINES:-100000}
PAGES=${PAGES:-256}
T=$(mktemp -d /tmp/kvt-vgbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/wd"
awk -v n="$SORT_LINES" 'BEGIN { srand(42); for (i = 0; i < n; i++)
	printf "%08x %d\n", int(rand() * 4294967295), i }' >"$T/in.txt"
head -n "$LACKEY_SORT_LINES" "$T/in.txt" >"$T/small.txt"
head -n "$POOL0_SORT_LINES" "$T/in.txt" >"$T/mid.txt"

secs() {	# secs COMMAND...: wall seconds (stdout, stderr discarded)
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$T/last.err"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
row() {		# row NAME INPUT-LABEL COMMAND...
	local name=$1 label=$2 s
	shift 2
	s=$(secs "$@")
	printf "%-28s %-16s %8s s" "$name" "$label" "$s"
	if grep -q "^references:" "$T/last.err"; then
		printf "  refs %s  %s B/ref" \
			"$(sed -n 's/^references: //p' "$T/last.err")" \
			"$(sed -n 's/^bytes-per-reference: //p' "$T/last.err")"
	fi
	echo
	LAST=$s
}
VG="valgrind -q --trace-children=yes"
echo "# activator --valgrind benchmark ($(date -u +%F), $(nproc) CPUs)"
for what in workload sort; do
	if [ $what = workload ]; then
		cmd=("$WL" "$T/wd" "$PAGES"); small=("${cmd[@]}"); mid=("${cmd[@]}")
		lab="pages=$PAGES"; slab=$lab; mlab=$lab
	else
		cmd=(sort "$T/in.txt"); small=(sort "$T/small.txt"); mid=(sort "$T/mid.txt")
		lab="$SORT_LINES lines"; slab="$LACKEY_SORT_LINES lines"
		mlab="$POOL0_SORT_LINES lines"
	fi
	row "$what native" "$lab" "${cmd[@]}"
	row "$what --tool=none" "$lab" $VG --tool=none "${cmd[@]}"; none=$LAST
	row "$what activator --pool 512" "$lab" "$ACT" --valgrind "$T/k" "$T/r" -- "${cmd[@]}"; p512=$LAST
	[ $what = sort ] && row "$what --tool=none" "$mlab" $VG --tool=none "${mid[@]}"
	row "$what activator --pool 0" "$mlab" "$ACT" --valgrind --pool 0 "$T/k" "$T/r" -- "${mid[@]}"
	row "$what --tool=none" "$slab" $VG --tool=none "${small[@]}"
	row "$what lackey --trace-mem" "$slab" $VG --tool=lackey --trace-mem=yes --log-file="$T/lk.%p" "${small[@]}"; lk=$LAST
	row "$what activator --pool 512" "$slab" "$ACT" --valgrind "$T/k" "$T/r" -- "${small[@]}"; sp512=$LAST
	awk -v a="$p512" -v b="$none" -v l="$lk" -v s="$sp512" -v w=$what 'BEGIN {
		printf "%s: --pool 512 / --tool=none = %.2f (goal <= 2); lackey / --pool 512 = %.1f (goal >= 50)\n",
			w, a / b, l / s }'
done
if [ -x "$LRU" ]; then
	echo "# LRU faults, pool-filtered vs full trace (workload pages=$PAGES)"
	"$ACT" --valgrind --pool 0 -q "$T/k0" "$T/r0" -- "$WL" "$T/wd" "$PAGES" >/dev/null
	for N in 16 64; do
		"$ACT" --valgrind --pool $N -q "$T/k$N" "$T/r$N" -- "$WL" "$T/wd" "$PAGES" >/dev/null
		paste <("$LRU" "$T/k$N" "$T/r$N" $((4*N)) $((8*N)) $((30*N))) \
		      <("$LRU" "$T/k0" "$T/r0" $((4*N)) $((8*N)) $((30*N))) |
		awk -v N=$N '{ printf "N=%-3d M=%-5d filtered %7d  full %7d  diff %+.3f%%  (refs %d of %d)\n",
			N, $1, $2, $5, 100 * ($2 - $5) / $5, $3, $6 }'
	done
fi
