#!/usr/bin/env bash
# checkpatch.sh KERNEL_TREE
# Every patch of kpatch/series passes the kernel's scripts/checkpatch.pl
# (no errors, no warnings), and the headers the series adds are the
# project's own, byte for byte (one source of truth):
#   include/uapi/linux/kvmtrace_record.h  = formats/include/kvt/record.h
#   include/uapi/linux/kvmtrace.h         = kpatch/include/uapi/linux/kvmtrace.h
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
tree=$1
bad=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while read -r p; do
	case "$p" in ''|\#*) continue ;; esac
	(cd "$tree" && perl scripts/checkpatch.pl --no-tree --show-types \
		"$top/kpatch/$p") >"$tmp/out" 2>&1
	# The one tolerated finding: record.h (formats/, the project's
	# header, carried unchanged) ends a block comment on a text line.
	n=$(awk '
	/^(WARNING|ERROR|CHECK):/ { kind = $0; next }
	kind != "" {
		if (!(kind ~ /BLOCK_COMMENT_STYLE/ &&
		      $0 ~ /FILE: include\/uapi\/linux\/kvmtrace_record.h:/))
			n++
		kind = ""
	}
	END { print n + 0 }' "$tmp/out")
	if [ "$n" = 0 ] && grep -q '^total: 0 errors' "$tmp/out"; then
		echo "ok - checkpatch $p ($(grep '^total:' "$tmp/out"))"
	else
		echo "not ok - checkpatch $p"
		cat "$tmp/out"
		bad=1
	fi
done <"$top/kpatch/series"

# The file a patch of the series creates, as the series has it.
added() {
	awk -v f="$1" '
	/^diff --git / { on = ($4 == "b/" f); next }
	on && /^@@/ { body = 1; next }
	on && body && /^\+/ { print substr($0, 2); next }
	on && body && !/^\+/ { body = 0 }
	' "$top"/kpatch/0*.patch
}
for pair in "include/uapi/linux/kvmtrace_record.h formats/include/kvt/record.h" \
	"include/uapi/linux/kvmtrace.h kpatch/include/uapi/linux/kvmtrace.h"; do
	set -- $pair
	if added "$1" | cmp -s - "$top/$2"; then
		echo "ok - the series' $1 is $2"
	else
		echo "not ok - the series' $1 differs from $2 (kpatch/refresh.sh)"
		added "$1" | diff - "$top/$2" | head -n 20
		bad=1
	fi
done
exit $bad
