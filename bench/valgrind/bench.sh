#!/usr/bin/env bash
# Wall time and CPU time (user + sys of every process, the activator's
# included) of the sample workload and of sort(1) natively, under
# valgrind --tool=none, --tool=lackey --trace-mem=yes, and under
# `activator --valgrind` with --pool 512 and --pool 0; bytes written per
# reference; the LRU fidelity table of the pool.  Release binaries.
# The machine may be shared: each row runs REPS times and shows the
# least and the median of both times; the ratios use the least CPU and
# the least wall times.
# Environment: SORT_LINES (1000000), POOL0_SORT_LINES (100000: --pool 0
# records every access, billions on the full input), LACKEY_SORT_LINES
# (5000), PAGES (256), WORK (the sample workload's --work, KiB: 131072),
# LACKEY_WORK (3072: lackey takes some 20 s a MiB of the working-set
# loops, 45 minutes on the full size; --pool 0 runs at this size too),
# FID_WORK (1024, the LRU table), REPS (3; lackey runs once).
# The lackey ratio compares lackey with --pool 512 on the same input (the
# smaller one), both measured whole, start-up included: no extrapolation.
set -u
ACT=${ACT:-bin/activator}
WL=${WL:-bin/kvt-sample-workload}
LRU=${LRU:-build/rel/tests/kvt-lru}
SORT_LINES=${SORT_LINES:-1000000}
LACKEY_SORT_LINES=${LACKEY_SORT_LINES:-5000}
POOL0_SORT_LINES=${POOL0_SORT_LINES:-100000}
PAGES=${PAGES:-256}
WORK=${WORK:-131072}
LACKEY_WORK=${LACKEY_WORK:-3072}
FID_WORK=${FID_WORK:-1024}
REPS=${REPS:-3}
T=$(mktemp -d /tmp/kvt-vgbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/wd"
awk -v n="$SORT_LINES" 'BEGIN { srand(42); for (i = 0; i < n; i++)
	printf "%08x %d\n", int(rand() * 4294967295), i }' >"$T/in.txt"
head -n "$LACKEY_SORT_LINES" "$T/in.txt" >"$T/small.txt"
head -n "$POOL0_SORT_LINES" "$T/in.txt" >"$T/mid.txt"

once() {	# once COMMAND...: "wall cpu" seconds (output discarded)
	local TIMEFORMAT='%R %U %S'
	{ time "$@" >/dev/null 2>"$T/last.err"; } 2>"$T/time"
	awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$T/time"
}
row() {		# row NAME INPUT-LABEL COMMAND...: sets LAST (wall), LASTCPU
	local name=$1 label=$2 n=$REPS i
	shift 2
	case $name in *lackey*) n=1 ;; esac
	: >"$T/times"
	for ((i = 0; i < n; i++)); do
		once "$@" >>"$T/times"
	done
	read -r LAST wmed < <(cut -d' ' -f1 "$T/times" | sort -n |
		awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)] }')
	read -r LASTCPU cmed < <(cut -d' ' -f2 "$T/times" | sort -n |
		awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)] }')
	printf "%-28s %-14s wall %7s s (med %7s)  cpu %7s s (med %7s)" \
		"$name" "$label" "$LAST" "$wmed" "$LASTCPU" "$cmed"
	if grep -q "^references:" "$T/last.err"; then
		printf "  refs %s  %s B/ref" \
			"$(sed -n 's/^references: //p' "$T/last.err")" \
			"$(sed -n 's/^bytes-per-reference: //p' "$T/last.err")"
	fi
	echo
}
VG="valgrind -q --trace-children=yes"
echo "# activator --valgrind benchmark ($(date -u +%F), $(nproc) CPUs)"
for what in workload sort; do
	if [ $what = workload ]; then
		cmd=("$WL" --work "$WORK" "$T/wd" "$PAGES")
		small=("$WL" --work "$LACKEY_WORK" "$T/wd" "$PAGES"); mid=("${small[@]}")
		lab="work=$WORK"; slab="work=$LACKEY_WORK"; mlab=$slab
	else
		cmd=(sort "$T/in.txt"); small=(sort "$T/small.txt"); mid=(sort "$T/mid.txt")
		lab="$SORT_LINES lines"; slab="$LACKEY_SORT_LINES lines"
		mlab="$POOL0_SORT_LINES lines"
	fi
	row "$what native" "$lab" "${cmd[@]}"
	row "$what --tool=none" "$lab" $VG --tool=none "${cmd[@]}"; none=$LAST; nonec=$LASTCPU
	row "$what activator --pool 512" "$lab" "$ACT" --valgrind "$T/k" "$T/r" -- "${cmd[@]}"; p512=$LAST; p512c=$LASTCPU
	[ $what = sort ] && row "$what --tool=none" "$mlab" $VG --tool=none "${mid[@]}"
	[ $what = workload ] && row "$what native" "$slab" "${small[@]}"
	row "$what activator --pool 0" "$mlab" "$ACT" --valgrind --pool 0 "$T/k" "$T/r" -- "${mid[@]}"
	row "$what --tool=none" "$slab" $VG --tool=none "${small[@]}"
	row "$what lackey --trace-mem" "$slab" $VG --tool=lackey --trace-mem=yes --log-file="$T/lk.%p" "${small[@]}"; lk=$LAST; lkc=$LASTCPU
	row "$what activator --pool 512" "$slab" "$ACT" --valgrind "$T/k" "$T/r" -- "${small[@]}"; sp512=$LAST; sp512c=$LASTCPU
	awk -v a="$p512" -v b="$none" -v ac="$p512c" -v bc="$nonec" \
	    -v l="$lk" -v s="$sp512" -v lc="$lkc" -v sc="$sp512c" -v w=$what \
	    -v lab="$lab" -v slab="$slab" 'BEGIN {
		printf "%s: --pool 512 / --tool=none = %.2f wall, %.2f cpu at %s (goal <= 2)\n",
			w, a / b, ac / bc, lab
		printf "%s: lackey / --pool 512 = %.1f wall, %.1f cpu, both at %s (goal >= 50)%s\n",
			w, l / s, lc / sc, slab,
			lab == slab ? "" : "; lackey is too slow for " lab }'
done
if [ -x "$LRU" ]; then
	echo "# LRU faults, pool-filtered vs full trace (workload pages=$PAGES work=$FID_WORK)"
	fid=("$WL" --work "$FID_WORK" "$T/wd" "$PAGES")
	"$ACT" --valgrind --pool 0 -q "$T/k0" "$T/r0" -- "${fid[@]}" >/dev/null
	for N in 16 64; do
		"$ACT" --valgrind --pool $N -q "$T/k$N" "$T/r$N" -- "${fid[@]}" >/dev/null
		paste <("$LRU" "$T/k$N" "$T/r$N" $((4*N)) $((8*N)) $((30*N))) \
		      <("$LRU" "$T/k0" "$T/r0" $((4*N)) $((8*N)) $((30*N))) |
		awk -v N=$N '{ printf "N=%-3d M=%-5d filtered %7d  full %7d  diff %+.3f%%  (refs %d of %d)\n",
			N, $1, $2, $5, 100 * ($2 - $5) / $5, $3, $6 }'
	done
fi
