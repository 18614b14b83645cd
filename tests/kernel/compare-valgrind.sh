#!/usr/bin/env bash
# compare-valgrind.sh GUEST_DUMP PAGES WORKLOAD [BINDIR]
# The sample workload traced by the kernel patch (GUEST_DUMP: kvt-dump of
# the guest's trace) and by the Valgrind collector (run here, on the same
# static WORKLOAD binary and PAGES) must agree on the processes, threads,
# execs, the mappings of workload.dat and of shmem (flags, protection,
# lengths, offsets), the mremap and the file-system pages: the shapes of
# tests/kernel/shape.awk.  Addresses, tids and inodes differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gdump=$1 pages=$2 workload=$3 bin=${4:-bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/w"
"$bin/activator" --valgrind "$tmp/k.kvt" "$tmp/r.kvt" -- \
	"$workload" "$tmp/w" "$pages" >"$tmp/vg.out" 2>&1 || {
	echo "the Valgrind collector failed:"; tail -n 20 "$tmp/vg.out"; exit 1; }
"$bin/kvt-dump" "$tmp/k.kvt" "$tmp/r.kvt" >"$tmp/vg.txt"
awk -v FILE=workload.dat -f "$here/shape.awk" "$gdump" | sort >"$tmp/kernel.shape"
awk -v FILE=workload.dat -f "$here/shape.awk" "$tmp/vg.txt" | sort >"$tmp/valgrind.shape"
echo "kernel shape: $(wc -l <"$tmp/kernel.shape") lines; valgrind shape: $(wc -l <"$tmp/valgrind.shape") lines"
if diff -u "$tmp/kernel.shape" "$tmp/valgrind.shape"; then
	cat "$tmp/kernel.shape"
	echo "ok - the kernel patch and the Valgrind collector agree"
	exit 0
fi
echo "not ok - the shapes differ (- kernel, + valgrind)"
exit 1
