# reuse-brute.awk: the reuse consumer's table, the plain way, from the
# gone-dump test consumer's lines ("KIND PAGE PROCESS TASK", "G PAGE SEQ"):
# a list of pages per stack, the most recent first, searched and shifted at
# every reference (tests/merger/reuse.sh compares it with consumers/reuse.c's
# Fenwick tree).  -v scope=trace|process|thread -v gone=drop|keep, as its
# options.
function find(s, p,    i) {
	for (i = 1; i <= n[s]; i++)
		if (st[s, i] == p)
			return i
	return 0
}
function remove(s, pos,    i) {
	for (i = pos; i < n[s]; i++)
		st[s, i] = st[s, i + 1]
	delete st[s, n[s]]
	n[s]--
}
$1 == "G" {
	if (gone == "drop")
		for (s in n)
			if ((pos = find(s, $2)))
				remove(s, pos)
	next
}
{
	s = scope == "process" ? $3 : scope == "thread" ? $4 : 0
	if (!(s in n))
		n[s] = 0
	p = $2; refs++
	pos = find(s, p)
	if (!pos) {
		cold++; n[s]++; pos = n[s]
	} else {
		h[pos - 1]++
		if (pos - 1 > max)
			max = pos - 1
	}
	for (i = pos; i > 1; i--)
		st[s, i] = st[s, i - 1]
	st[s, 1] = p
}
END {
	print "distance\treferences\tlru-faults"
	f = refs + 0
	for (d = 0; d <= max; d++)
		if (h[d]) {
			print d "\t" h[d] "\t" f
			f -= h[d]
		}
	print "cold\t" cold + 0 "\t" f
}
