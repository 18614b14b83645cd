#!/usr/bin/env bash
# run.sh BZIMAGE INITRAMFS OUT.txt [PAGES [RUNS]]
# The kernel-event benchmark: boots the test-bed kernel in kvt.mode=bench
# (kpatch/guest/init), which times the sample workload and
# kvt-syscall-bench untraced, with kernel events traced, and with kernel
# events and file-system references traced, RUNS times each (guest clock).
# Writes a table to OUT.txt and standard output: median guest time per
# variant, slowdown against untraced, records/s, bytes/s and lost records.
set -euo pipefail
# Guest time counts instructions (-icount shift=0: 1 ns each), so the
# figures do not depend on the host's load; the guest calibrates its TSC
# against that virtual time.
export KVT_QEMU_EXTRA=${KVT_QEMU_EXTRA--icount shift=0}
export KVT_TSC_KHZ=${KVT_TSC_KHZ-none}
# One vCPU: with -icount, two vCPUs run round-robin and a run took longer
# than the 15-minute bound here.
export KVT_QEMU_SMP=${KVT_QEMU_SMP:-1}
here=$(cd "$(dirname "$0")" && pwd)
kernel=$1 initrd=$2 outtxt=$3 pages=${4:-256} runs=${5:-5}
work=$(dirname "$outtxt")/kernel-bench
rm -rf "$work"
mkdir -p "$work"
disk=$work/disk.img
mke2fs -q -t ext2 -F "$disk" 256M
"$here/../../kpatch/run-qemu.sh" "$kernel" "$initrd" "$disk" bench \
	"${KVT_QEMU_TIMEOUT:-900}" quiet "kvt.pages=$pages" "kvt.runs=$runs" \
	>"$work/console.log" 2>&1 || true
if ! grep -q 'kvt-guest: done' "$work/console.log"; then
	echo "bench-kernel: the guest did not finish:" >&2
	tail -n 30 "$work/console.log" >&2
	exit 1
fi
debugfs -R "rdump /out $work" "$disk" >/dev/null 2>&1
rm -f "$disk"
o=$work/out
# Optionally the same kernel without the patch series (KVT_BENCH_BASE: its
# bzImage), untraced: what CONFIG_KVMTRACE costs while tracing is off.
if [ -n "${KVT_BENCH_BASE:-}" ]; then
	mkdir -p "$work/base"
	mke2fs -q -t ext2 -F "$disk" 256M
	"$here/../../kpatch/run-qemu.sh" "$KVT_BENCH_BASE" "$initrd" "$disk" bench \
		"${KVT_QEMU_TIMEOUT:-900}" quiet "kvt.pages=$pages" "kvt.runs=$runs" \
		kvt.variants=untraced >"$work/base/console.log" 2>&1 || true
	debugfs -R "rdump /out $work/base" "$disk" >/dev/null 2>&1
	rm -f "$disk"
	awk '$2 == "untraced" { $2 = "unpatched"; print }' \
		"$work/base/out/bench.txt" >>"$o/bench.txt"
fi
{
	echo "# kvmtrace kernel-event benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo "# guest: $(cat "$o/uname"), QEMU TCG ${KVT_QEMU_EXTRA}, ${KVT_QEMU_SMP:-2} vCPUs; $runs runs each, medians"
	echo "# workload = kvt-sample-workload $pages pages; syscalls = kvt-syscall-bench (20 rounds)"
	printf "%-9s %-10s %10s %9s %12s %12s %12s %6s\n" program variant \
		"time(ms)" slowdown records "records/s" "bytes/s" lost
	for prog in workload syscalls; do
		base=
		for v in untraced unpatched kernel kernel+fs; do
			med=$(awk -v p=$prog -v v=$v '$1 == p && $2 == v { print $4 }' \
				"$o/bench.txt" | sort -n | awk '{ a[NR] = $1 }
				END { print NR ? a[int((NR + 1) / 2)] : 0 }')
			[ -z "$base" ] && base=$med
			[ "$med" = 0 ] && continue	# not measured
			recs=0 bytes=0 lost=0
			if [ "$v" != untraced ] && [ "$v" != unpatched ]; then
				# Median run's counts: all runs do the same work.
				f=$(ls "$o"/bench-$prog-$v-*.err | head -n1)
				recs=$(awk -F': ' '/^kernel-events:|^references:/ { s += $2 } END { print s + 0 }' "$f")
				bytes=$(awk -F': ' '/^ktrace-bytes:|^rtrace-bytes:/ { s += $2 } END { print s + 0 }' "$f")
				lost=$(awk -F': ' '/^lost-kernel-events:|^lost-references:/ { s += $2 } END { print s + 0 }' "$f")
			fi
			awk -v p=$prog -v v=$v -v t=$med -v b=$base -v r=$recs \
			    -v by=$bytes -v l=$lost 'BEGIN {
				s = t / 1e9
				printf "%-9s %-10s %10.1f %8.1f%% %12d %12.0f %12.0f %6d\n",
					p, v, t / 1e6, b ? (t - b) * 100 / b : 0, r,
					s ? r / s : 0, s ? by / s : 0, l
			}'
		done
	done
	echo "# slowdown: guest time against untraced; records and bytes: both"
	echo "# trace files as written (compressed), per second of traced guest time"
} | tee "$outtxt"
