#!/usr/bin/env bash
# build-kernel.sh [OUTDIR]
# Builds the kvmtrace test-bed kernel: unpacks Debian's linux-source-6.1,
# applies the patch series (kpatch/series), configures tinyconfig plus
# kpatch/kvmtrace.config and builds OUTDIR/bzImage (default
# build/kernel/bed).  A build whose inputs (the patches, the fragment and
# the source tarball) did not change is reused; when only the
# patches changed, the old series is reversed and the new one applied in
# the same tree, so make rebuilds only what the patches touch.
# KVT_UNPATCHED=1 builds the same kernel without the series (for the
# benchmark's "tracing off costs nothing" comparison).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/kernel/bed}
tarball=${KVT_LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
jobs=${KVT_JOBS:-$(nproc)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ ! -f "$tarball" ]; then
	echo "build-kernel: $tarball: not found (install linux-source-6.1: scripts/setup-deps.sh)" >&2
	exit 1
fi
mapfile -t patches < <(grep -v '^\s*\(#\|$\)' "$here/series")
[ "${KVT_UNPATCHED:-0}" = 1 ] && patches=()
hash=$( {
	echo "unpatched=${KVT_UNPATCHED:-0}"
	stat -c '%n %s %Y' "$tarball"
	for p in "${patches[@]}"; do cat "$here/$p"; done
	cat "$here/kvmtrace.config"
} | sha256sum | cut -c1-16)

if [ -f "$out/bzImage" ] && [ "$(cat "$out/bzImage.hash" 2>/dev/null)" = "$hash" ]; then
	echo "build-kernel: $out/bzImage is up to date ($hash)"
	exit 0
fi

tree=$out/linux obj=$out/obj applied=$out/applied
src_id=$(stat -c '%n %s %Y' "$tarball")
fresh() {
	echo "build-kernel: unpacking $tarball"
	rm -rf "$tree" "$obj" "$applied"
	mkdir -p "$tree.tmp"
	tar -xf "$tarball" -C "$tree.tmp" --strip-components=1
	mv "$tree.tmp" "$tree"
	echo "$src_id" >"$out/source.id"
	mkdir -p "$applied"
}
unapply() {
	local list
	[ -f "$applied/series" ] || return 0
	mapfile -t list < <(tac "$applied/series")
	for p in "${list[@]}"; do
		patch -d "$tree" -p1 -R -s -f <"$applied/$p" >/dev/null || return 1
	done
	rm -f "$applied"/*
}
if [ ! -d "$tree" ] || [ "$(cat "$out/source.id" 2>/dev/null)" != "$src_id" ] ||
   ! unapply; then
	fresh
fi
for p in "${patches[@]}"; do
	if ! patch -d "$tree" -p1 -s -f -N <"$here/$p"; then
		echo "build-kernel: $p does not apply" >&2
		exit 1
	fi
	cp "$here/$p" "$applied/$p"
	echo "$p" >>"$applied/series"
done

mkdir -p "$obj"
make -s -C "$tree" O="$obj" tinyconfig >/dev/null
"$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" \
	"$here/kvmtrace.config" >/dev/null
make -s -C "$tree" O="$obj" olddefconfig
# Every line of the fragment must have survived (a missing dependency
# would silently drop it).
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) ! grep -q "^${line%=n}=y" "$obj/.config" ||
		{ echo "build-kernel: $line did not take" >&2; exit 1; } ;;
	CONFIG_KVMTRACE=y) [ ${#patches[@]} = 0 ] || grep -qx "$line" "$obj/.config" ||
		{ echo "build-kernel: $line did not take" >&2; exit 1; } ;;
	CONFIG_*) grep -qx "$line" "$obj/.config" ||
		{ echo "build-kernel: $line did not take" >&2; exit 1; } ;;
	esac
done <"$here/kvmtrace.config"
echo "build-kernel: building in $obj ($jobs jobs)"
make -s -C "$tree" O="$obj" -j"$jobs" bzImage
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
echo "$hash" >"$out/bzImage.hash"
echo "build-kernel: $out/bzImage ($hash)"
