#!/usr/bin/env bash
# Installs the Debian packages kvmtrace needs, when they are missing.
#
#   scripts/setup-deps.sh            everything make check and make demo use
#   scripts/setup-deps.sh --print    only print the packages that are missing
#
# As root it runs apt-get (apt-get update first when a package is not found
# in the current lists).  As another user it prints the exact apt-get
# install line to run and exits 1.  Nothing is downloaded from anywhere but
# Debian's archive.
set -euo pipefail

# Building and testing user space.
PKGS_BUILD="gcc make pkg-config zlib1g-dev libarchive-dev libxxhash-dev
libzstd-dev zstd libpmem-dev libcmocka-dev clang libclang-rt-14-dev
gzip time python3"
# The Valgrind collector (activator --valgrind).
PKGS_VALGRIND="valgrind"
# The kernel patch: building Linux 6.1 and booting it under QEMU.
PKGS_KERNEL="linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio kmod
xz-utils qemu-system-x86 busybox-static e2fsprogs perl"

want="$PKGS_BUILD $PKGS_VALGRIND $PKGS_KERNEL"

missing=()
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

if [ "${1:-}" = --print ]; then
	printf '%s\n' "${missing[@]}"
	exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "kvmtrace needs these Debian packages; as root, run:" >&2
	echo "  $line" >&2
	exit 1
fi

echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
	apt-get update </dev/null
	apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
fi
