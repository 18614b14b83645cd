#!/usr/bin/env bash
# plugin.sh MAKE DATA_DIR (tests/data: fork-cow.kvt)
# Installs kvmtrace into a temporary PREFIX, builds samples/consumer-example
# outside the tree against the installed header through pkg-config, and
# loads it into the installed run-merger by path, by name through
# KVT_PLUGIN_PATH and from the install's plugin directory; a consumer built
# for another ABI version, a file that is not a shared object and one without
# the symbol are rejected; a failing finish; the README's commands; and the
# built-in consumers' OUT (a non-empty directory: a note, a failed archive, --text
# with codec options, standard output that fails).
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

# A plugin whose finish fails (hotpages on a full disk): its sentence, the
# exit status of an I/O error, and the summary still printed.
"$rm_" -q "$tmp/so/kvt-consumer-hotpages.so" auto "$tmp/r" "$tmp/k" /dev/full \
	>/dev/null 2>"$tmp/err"
st=$?
[ $st -eq 3 ] && grep -q '^run-merger: hotpages: cannot write output' \
	"$tmp/err" && grep -q '^references: 9$' "$tmp/err" ||
	{ fail "failing finish: exit $st"; cat "$tmp/err"; }
# Not a shared object; a shared object without the symbol.
echo "not a shared object" >"$tmp/junk.so"
"$rm_" -q "$tmp/junk.so" auto "$tmp/r" "$tmp/k" - >/dev/null 2>"$tmp/err"
st=$?
[ $st -eq 2 ] && grep -q 'cannot load consumer' "$tmp/err" ||
	{ fail "not a .so: exit $st"; cat "$tmp/err"; }
printf 'int not_a_consumer = 1;\n' >"$tmp/nosym.c"
if cc -shared -fPIC -o "$tmp/nosym.so" "$tmp/nosym.c" 2>/dev/null; then
	"$rm_" -q "$tmp/nosym.so" auto "$tmp/r" "$tmp/k" - >/dev/null \
		2>"$tmp/err"
	st=$?
	[ $st -eq 2 ] && grep -q 'exports no symbol kvt_consumer' "$tmp/err" ||
		{ fail "no symbol: exit $st"; cat "$tmp/err"; }
fi

# The README's section 2, command for command, in a copy of the tree with
# the example built in place (section 1 without O=).
mkdir -p "$tmp/tree/samples" "$tmp/tree/tests/data"
cp -r samples/consumer-example "$tmp/tree/samples/"
rm -f "$tmp/tree/samples/consumer-example/"*.so
cp "$sc/fork-cow.kvt" "$tmp/tree/tests/data/"
$make --no-print-directory -C "$tmp/tree/samples/consumer-example" >/dev/null ||
	fail "README: make -C samples/consumer-example"
sed -n '/^## 2\./,/^## 3\./p' samples/consumer-example/README.md |
	awk '/^```/ { code = !code; next } code' >"$tmp/readme.sh"
[ "$(grep -c run-merger "$tmp/readme.sh")" -ge 2 ] ||
	fail "README: no run-merger commands found in section 2"
(cd "$tmp/tree" && PATH=$prefix/bin:$PATH bash -e "$tmp/readme.sh") \
	>"$tmp/readme.out" 2>"$tmp/readme.err" ||
	{ fail "README section 2: exit $?"; head -5 "$tmp/readme.err"; }
cat "$tmp/want" "$tmp/want" | cmp -s - "$tmp/readme.out" ||
	fail "README section 2: output differs"
[ "$(grep -c '^hotpages-distinct-pages: 5$' "$tmp/readme.err")" -eq 2 ] ||
	fail "README section 2: no hotpages-distinct-pages: 5"

# The built-in consumers' OUT (consumers/perfile.c, basic.c, common.c).
mkdir -p "$tmp/full" "$tmp/empty"
echo stale >"$tmp/full/1234.txt"
for type in per-process per-thread; do
	"$rm_" -q --text $type auto "$tmp/r" "$tmp/k" "$tmp/full" \
		2>"$tmp/err"
	st=$?
	[ $st -eq 0 ] && grep -q 'is not empty' "$tmp/err" &&
		[ -f "$tmp/full/1234.txt" ] && [ -f "$tmp/full/index.tsv" ] ||
		{ fail "$type into a non-empty directory: exit $st"; cat "$tmp/err"; }
	rm -f "$tmp/full/index.tsv"
	rm -rf "$tmp/empty"
	mkdir "$tmp/empty"
	"$rm_" -q --text $type auto "$tmp/r" "$tmp/k" "$tmp/empty" \
		2>"$tmp/err" && [ -f "$tmp/empty/index.tsv" ] ||
		{ fail "$type into an empty directory"; cat "$tmp/err"; }
	# An archive that cannot be finished is not left behind.
	"$rm_" -q -o tmpdir=/nonexistent $type auto "$tmp/r" "$tmp/k" \
		"$tmp/failed.tar.gz" 2>"$tmp/err"
	st=$?
	[ $st -eq 3 ] && [ ! -e "$tmp/failed.tar.gz" ] ||
		fail "$type: failed archive: exit $st, left: $(ls "$tmp"/failed* 2>&1)"
done
[ "$(cat "$tmp/full/1234.txt")" = stale ] || fail "the stale file changed"
for type in basic per-process; do
	case $type in basic) o=$tmp/t.txt ;; *) o=$tmp/t.dir ;; esac
	"$rm_" -q --text -o compress=bogus $type auto "$tmp/r" "$tmp/k" "$o" \
		2>"$tmp/err"
	st=$?
	[ $st -eq 2 ] && grep -q 'compress=bogus: not a codec' "$tmp/err" ||
		{ fail "$type --text -o compress=bogus: exit $st"; cat "$tmp/err"; }
	rm -rf "$o"
	"$rm_" -q --text -o compress=zstd $type auto "$tmp/r" "$tmp/k" "$o" \
		2>"$tmp/err" && grep -q 'note: -o compress=.*not compressed' \
		"$tmp/err" || { fail "$type --text -o compress=zstd: no note"; cat "$tmp/err"; }
done
"$rm_" -q summary auto "$tmp/r" "$tmp/k" - 2>&1 >/dev/full |
	grep -q '^run-merger: summary: cannot write standard output' ||
	fail "summary to a full standard output: message"

echo "$fails failures"
[ $fails -eq 0 ]
