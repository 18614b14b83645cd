#!/usr/bin/env bash
# refresh.sh [TREE]
# For kvmtrace developers: regenerates kpatch/0*.patch and kpatch/series
# from a git repository of the kernel source (default build/kernel/src)
# whose first commit is the pristine Debian linux-source-6.1 tree and whose
# later commits are the series.  Before that it copies the project's
# headers into the tree and fails if the series' copies differ (commit
# them into the first patch of the series, then run this again).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=${1:-$here/../build/kernel/src}
cp "$here/../formats/include/kvt/record.h" "$tree/include/uapi/linux/kvmtrace_record.h"
cp "$here/include/uapi/linux/kvmtrace.h" "$tree/include/uapi/linux/kvmtrace.h"
if ! git -C "$tree" diff --quiet -- include/uapi/linux/kvmtrace_record.h \
	include/uapi/linux/kvmtrace.h; then
	echo "refresh: the project's headers changed: amend the first patch in $tree" >&2
	exit 1
fi
base=$(git -C "$tree" rev-list --max-parents=0 HEAD)
rm -f "$here"/0*.patch
git -C "$tree" format-patch -q --no-signature --zero-commit -N \
	-o "$here" "$base"..HEAD
(cd "$here" && ls 0*.patch) >"$here/series"
cat "$here/series"
