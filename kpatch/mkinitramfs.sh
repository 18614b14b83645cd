#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz KERNEL_SRC BINARY...
# A gzip'd initramfs: static busybox, kpatch/guest/init as /init, and each
# BINARY (static executables) in /bin.  Built with the kernel's own
# usr/gen_init_cpio (compiled from KERNEL_SRC), so no root is needed for
# /dev/console.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1 ksrc=$2
shift 2
busybox=${KVT_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkinitramfs: $busybox: not found (install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkinitramfs: $busybox is not static (install busybox-static)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/gen_init_cpio" "$ksrc/usr/gen_init_cpio.c"
{
	echo "dir /dev 755 0 0"
	echo "nod /dev/console 600 0 0 c 5 1"
	echo "nod /dev/null 666 0 0 c 1 3"
	for d in /bin /proc /sys /tmp /mnt /etc; do
		echo "dir $d 755 0 0"
	done
	echo "file /bin/busybox $busybox 755 0 0"
	echo "file /init $here/guest/init 755 0 0"
	printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$tmp/passwd"
	echo "file /etc/passwd $tmp/passwd 644 0 0"
	for b in "$@"; do
		echo "file /bin/$(basename "$b") $(realpath "$b") 755 0 0"
	done
} >"$tmp/list"
"$tmp/gen_init_cpio" "$tmp/list" | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
