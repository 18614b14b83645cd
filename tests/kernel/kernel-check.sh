#!/usr/bin/env bash
# kernel-check.sh BZIMAGE INITRAMFS OUTDIR PAGES [BINDIR]
# Boots the test-bed kernel under QEMU in kvt.mode=check (see
# kpatch/guest/init), brings the results out of the guest's ext2 disk with
# debugfs, and checks them (tests/kernel/check-trace.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kernel=$1 initrd=$2 out=$3 pages=$4 bin=${5:-bin}
rm -rf "$out"
mkdir -p "$out"
disk=$out/disk.img
mke2fs -q -t ext2 -F "$disk" 128M
start=$(date +%s)
set +e
"$here/../../kpatch/run-qemu.sh" "$kernel" "$initrd" "$disk" check \
	"${KVT_QEMU_TIMEOUT:-300}" quiet "kvt.pages=$pages" >"$out/console.log" 2>&1
st=$?
set -e
echo "qemu: exit $st after $(( $(date +%s) - start )) s (console: $out/console.log)"
if [ $st -ne 0 ] || ! grep -q 'kvt-guest: done' "$out/console.log"; then
	echo "the guest did not finish:"
	tail -n 30 "$out/console.log"
	exit 1
fi
mkdir -p "$out/guest"
debugfs -R "rdump /out $out/guest" "$disk" >/dev/null 2>&1
rm -f "$disk"
ls -l "$out/guest/out"
exec "$here/check-trace.sh" "$out/guest/out" "$pages" "$bin"
