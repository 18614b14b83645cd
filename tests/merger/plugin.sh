#!/usr/bin/env bash
# plugin.sh MAKE DATA_DIR (tests/data: fork-cow.kvt)
# Installs kvmtrace into a temporary PREFIX, builds samples/consumer-example
# outside the tree against the installed header through pkg-config, and
# loads it into the installed run-merger by path, by name through
# KVT_PLUGIN_PATH and from the install's plugin directory; a consumer built
# for another ABI version is rejected.
set -u
make=$1 sc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
prefix=$tmp/prefix
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

$make --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; echo "FAIL: make install"; exit 1; }
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
pkg-config --cflags kvt | grep -q -- "-I$prefix/include" ||
	fail "pkg-config --cflags kvt does not name $prefix/include"
[ -f "$prefix/include/kvt/consumer.h" ] || fail "consumer.h not installed"
mkdir -p "$tmp/so" "$tmp/bad"
$make --no-print-directory -C samples/consumer-example O="$tmp/so" ||
	{ echo "FAIL: building the example"; exit 1; }
$make --no-print-directory -C samples/consumer-example O="$tmp/bad" \
	CFLAGS="-O2 -DHOTPAGES_ABI=999" >/dev/null || exit 1

rm_=$prefix/bin/run-merger
"$prefix/bin/kvt-as" "$sc/fork-cow.kvt" "$tmp/k" "$tmp/r" || exit 1
printf '0 4 anon\n1 2 anon\n2 1 anon\n' >"$tmp/want"

"$rm_" -q "$tmp/so/kvt-consumer-hotpages.so" auto "$tmp/r" "$tmp/k" \
	"$tmp/out1" -o top=3 2>"$tmp/err" || fail "by path: exit $?"
cmp -s "$tmp/want" "$tmp/out1" || fail "by path: output differs"
grep -q '^hotpages-distinct-pages: 5$' "$tmp/err" ||
	fail "by path: no report line"
grep -q '^references: 9$' "$tmp/err" || fail "by path: no summary"

KVT_PLUGIN_PATH=/nonexistent:$tmp/so "$rm_" -q -o top=3 hotpages auto \
	"$tmp/r" "$tmp/k" - >"$tmp/out2" 2>/dev/null ||
	fail "by name in KVT_PLUGIN_PATH: exit $?"
cmp -s "$tmp/want" "$tmp/out2" || fail "by name: output differs"

KVT_PLUGIN_PATH=$tmp/so "$rm_" --list >"$tmp/list" ||
	fail "--list: exit $?"
grep -q '^hotpages' "$tmp/list" || fail "--list does not show the plugin"
grep -q -- '-o top=INT (default 10)' "$tmp/list" ||
	fail "--list does not show the plugin's option"

cp "$tmp/so/kvt-consumer-hotpages.so" "$prefix/lib/kvmtrace/consumers/"
"$rm_" -q -o top=3 hotpages auto "$tmp/r" "$tmp/k" - >"$tmp/out3" 2>/dev/null ||
	fail "from the install's plugin directory: exit $?"
cmp -s "$tmp/want" "$tmp/out3" || fail "install dir: output differs"

"$rm_" -q "$tmp/bad/kvt-consumer-hotpages.so" auto "$tmp/r" "$tmp/k" - \
	>/dev/null 2>"$tmp/err"
st=$?
[ $st -eq 2 ] && grep -q 'rejected: abi_version' "$tmp/err" ||
	{ fail "wrong ABI: exit $st"; cat "$tmp/err"; }

echo "$fails failures"
[ $fails -eq 0 ]
