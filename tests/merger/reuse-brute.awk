# reuse-brute.awk: the reuse consumer's table from basic's text output
# (KIND PAGE lines), the plain way: a list of the pages, the most recent
# first, searched and shifted at every reference (tests/merger/reuse.sh
# compares it with consumers/reuse.c's Fenwick tree).  Each file is a stack
# of its own (per-process's files: scope=process), the table their sum.
FNR == 1 { n = 0; split("", stack) }
{
	p = $2; refs++
	pos = 0
	for (i = 1; i <= n; i++) if (stack[i] == p) { pos = i; break }
	if (!pos) { cold++; n++; pos = n } else { h[pos - 1]++; if (pos - 1 > max) max = pos - 1 }
	for (i = pos; i > 1; i--) stack[i] = stack[i - 1]
	stack[1] = p
}
END {
	print "distance\treferences\tlru-faults"
	f = refs
	for (d = 0; d <= max; d++) if (h[d]) { print d "\t" h[d] "\t" f; f -= h[d] }
	print "cold\t" cold + 0 "\t" f
}
