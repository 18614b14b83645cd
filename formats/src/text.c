// SPDX-License-Identifier: MIT
/*
 * text.c - the text form of ../shared/spec/TRACE-TEXT.md: parsing one line
 * into a record, and writing a record in canonical form.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* ---- formatting -------------------------------------------------------------- */

struct sb {
	char *p;
	size_t size, len;
};

static inline void sb_putc(struct sb *b, char c)
{
	if (b->len + 1 < b->size)
		b->p[b->len] = c;
	b->len++;
}

static inline void sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->len + n < b->size) {
		memcpy(b->p + b->len, s, n);
	} else if (b->len + 1 < b->size) {
		memcpy(b->p + b->len, s, b->size - b->len - 1);
	}
	b->len += n;
}

#define SB_LIT(b, s) sb_put(b, s, sizeof(s) - 1)

static void sb_dec(struct sb *b, uint64_t v)
{
	char t[24];
	int i = sizeof(t);

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_put(b, t + i, sizeof(t) - (size_t)i);
}

static void sb_hex(struct sb *b, uint64_t v)
{
	static const char dig[] = "0123456789abcdef";
	char t[20];
	int i = sizeof(t);

	do {
		t[--i] = dig[v & 15];
		v >>= 4;
	} while (v);
	t[--i] = 'x';
	t[--i] = '0';
	sb_put(b, t + i, sizeof(t) - (size_t)i);
}

static void sb_key_dec(struct sb *b, const char *key, size_t klen, uint64_t v)
{
	sb_put(b, key, klen);
	sb_dec(b, v);
}

static void sb_key_hex(struct sb *b, const char *key, size_t klen, uint64_t v)
{
	sb_put(b, key, klen);
	sb_hex(b, v);
}

#define KDEC(b, k, v) sb_key_dec(b, k, sizeof(k) - 1, v)
#define KHEX(b, k, v) sb_key_hex(b, k, sizeof(k) - 1, v)

/*
 * A string value: bare, or quoted when empty or holding a space, tab, '"'
 * or '\\' (TRACE-TEXT.md).  Every other byte is written as it is, so a
 * canonical line round-trips byte for byte.  The two bytes that cannot stand
 * in a line, newline and carriage return (a path may hold them), are quoted
 * as \x0a and \x0d: an extension of TRACE-TEXT.md that kvt_text_parse reads
 * back and that no canonical input can contain.
 */
static void sb_str(struct sb *b, const char *s, size_t n)
{
	static const char dig[] = "0123456789abcdef";
	bool quote = n == 0;
	size_t i;

	for (i = 0; i < n && !quote; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '"' || c == '\\' ||
		    c == '\n' || c == '\r')
			quote = true;
	}
	if (!quote) {
		sb_put(b, s, n);
		return;
	}
	sb_putc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
		} else if (c == '\n' || c == '\r') {
			sb_putc(b, '\\');
			sb_putc(b, 'x');
			sb_putc(b, dig[c >> 4]);
			sb_putc(b, dig[c & 15]);
		} else {
			sb_putc(b, (char)c);
		}
	}
	sb_putc(b, '"');
}

static void sb_prot(struct sb *b, unsigned int prot)
{
	sb_putc(b, prot & KVT_PROT_READ ? 'r' : '-');
	sb_putc(b, prot & KVT_PROT_WRITE ? 'w' : '-');
	sb_putc(b, prot & KVT_PROT_EXEC ? 'x' : '-');
}

static void sb_file(struct sb *b, uint64_t dev, uint64_t ino)
{
	SB_LIT(b, " file=");
	sb_dec(b, dev);
	sb_putc(b, ':');
	sb_dec(b, ino);
}

static void format(struct sb *b, const struct kvt_rec *r, int named)
{
	static const char *const kinds[] = { "R", "W", "FR", "FW" };
	bool cpu = true;

	switch (r->type) {
	case KVT_REC_READ:
		KDEC(b, "read tid=", r->tid);
		KHEX(b, " addr=", r->u.ref.addr);
		break;
	case KVT_REC_WRITE:
		KDEC(b, "write tid=", r->tid);
		KHEX(b, " addr=", r->u.ref.addr);
		break;
	case KVT_REC_FSREAD:
	case KVT_REC_FSWRITE:
		if (r->type == KVT_REC_FSREAD)
			KDEC(b, "fsread tid=", r->tid);
		else
			KDEC(b, "fswrite tid=", r->tid);
		sb_file(b, r->u.fs.dev, r->u.fs.ino);
		KDEC(b, " pgoff=", r->u.fs.pgoff);
		break;
	case KVT_REC_PAGE:
		sb_put(b, kinds[r->u.page.kind & 3],
		       strlen(kinds[r->u.page.kind & 3]));
		sb_putc(b, ' ');
		sb_dec(b, r->u.page.page);
		if (named) {
			if (r->u.page.named == KVT_NAMED_FILE)
				SB_LIT(b, " file");
			else
				SB_LIT(b, " anon");
		}
		sb_putc(b, '\n');
		return;	/* merger outputs carry no ts= or cpu= */
	case KVT_REC_CLONE:
		KDEC(b, "clone parent=", r->tid);
		KDEC(b, " child=", r->u.clone.child);
		if (r->u.clone.flags == (KVT_CLONE_VM | KVT_CLONE_THREAD))
			SB_LIT(b, " flags=vm,thread");
		else if (r->u.clone.flags == KVT_CLONE_VM)
			SB_LIT(b, " flags=vm");
		else if (r->u.clone.flags == 0)
			SB_LIT(b, " flags=-");
		else
			SB_LIT(b, " flags=thread");
		break;
	case KVT_REC_EXEC:
		KDEC(b, "exec tid=", r->tid);
		SB_LIT(b, " path=");
		sb_str(b, r->str ? r->str : "", r->str ? r->str_len : 0);
		break;
	case KVT_REC_EXIT:
		KDEC(b, "exit tid=", r->tid);
		break;
	case KVT_REC_MMAP:
		KDEC(b, "mmap tid=", r->tid);
		KHEX(b, " addr=", r->u.mmap.addr);
		KHEX(b, " len=", r->u.mmap.len);
		SB_LIT(b, " prot=");
		sb_prot(b, r->u.mmap.prot);
		if (r->u.mmap.shared)
			SB_LIT(b, " flags=shared");
		else
			SB_LIT(b, " flags=private");
		if (r->u.mmap.backing == KVT_BACK_FILE) {
			sb_file(b, r->u.mmap.dev, r->u.mmap.ino);
			KDEC(b, " pgoff=", r->u.mmap.pgoff);
		} else if (r->u.mmap.backing == KVT_BACK_SHMEM) {
			KDEC(b, " shmem=", r->u.mmap.ino);
			KDEC(b, " pgoff=", r->u.mmap.pgoff);
		} else {
			SB_LIT(b, " anon");
		}
		if (r->str) {
			SB_LIT(b, " path=");
			sb_str(b, r->str, r->str_len);
		}
		break;
	case KVT_REC_MUNMAP:
		KDEC(b, "munmap tid=", r->tid);
		KHEX(b, " addr=", r->u.munmap.addr);
		KHEX(b, " len=", r->u.munmap.len);
		break;
	case KVT_REC_MREMAP:
		KDEC(b, "mremap tid=", r->tid);
		KHEX(b, " old=", r->u.mremap.old_addr);
		KHEX(b, " oldlen=", r->u.mremap.old_len);
		KHEX(b, " new=", r->u.mremap.new_addr);
		KHEX(b, " newlen=", r->u.mremap.new_len);
		break;
	case KVT_REC_MPROTECT:
		KDEC(b, "mprotect tid=", r->tid);
		KHEX(b, " addr=", r->u.mprotect.addr);
		KHEX(b, " len=", r->u.mprotect.len);
		SB_LIT(b, " prot=");
		sb_prot(b, r->u.mprotect.prot);
		break;
	case KVT_REC_BRK:
		KDEC(b, "brk tid=", r->tid);
		KHEX(b, " old=", r->u.brk.old_brk);
		KHEX(b, " new=", r->u.brk.new_brk);
		break;
	case KVT_REC_INODE_FREE:
		SB_LIT(b, "inode-free");
		sb_file(b, r->u.fs.dev, r->u.fs.ino);
		break;
	case KVT_REC_SWITCH:
		KDEC(b, "switch cpu=", r->cpu);
		KDEC(b, " prev=", r->u.sw.prev);
		KDEC(b, " next=", r->u.sw.next);
		cpu = false;
		break;
	case KVT_REC_LOST:
		if (r->u.lost.stream == KVT_STREAM_R)
			SB_LIT(b, "lost stream=r");
		else
			SB_LIT(b, "lost stream=k");
		KDEC(b, " count=", r->u.lost.count);
		break;
	case KVT_REC_MARK:
		SB_LIT(b, "mark text=");
		sb_str(b, r->str ? r->str : "", r->str ? r->str_len : 0);
		break;
	default:
		KDEC(b, "unknown-type-", r->type);
		break;
	}
	if (r->has & KVT_HAS_TS)
		KDEC(b, " ts=", r->ts);
	if (cpu && (r->has & KVT_HAS_CPU))
		KDEC(b, " cpu=", r->cpu);
	sb_putc(b, '\n');
}

int kvt_text_snprint(char *buf, size_t size, const struct kvt_rec *r,
		     int named)
{
	struct sb b = { buf, size, 0 };

	format(&b, r, named);
	if (size)
		buf[b.len < size ? b.len : size - 1] = 0;
	return (int)b.len;
}

int kvt_text_format(FILE *out, const struct kvt_rec *r, int named)
{
	char stack[512];
	struct sb b = { stack, sizeof(stack), 0 };
	int n;

	format(&b, r, named);
	if (b.len < sizeof(stack)) {
		n = (int)b.len;
		if (fwrite(stack, 1, b.len, out) != b.len)
			return KVT_E_IO;
		return n;
	}
	b.p = malloc(b.len + 1);
	if (!b.p)
		return KVT_E_NOMEM;
	b.size = b.len + 1;
	b.len = 0;
	format(&b, r, named);
	n = (int)b.len;
	if (fwrite(b.p, 1, b.len, out) != b.len)
		n = KVT_E_IO;
	free(b.p);
	return n;
}

/* ---- parsing ------------------------------------------------------------------ */

#define MAX_WORDS 24

struct word {
	const char *key;	/* the whole word when it has no '=' */
	size_t klen;
	const char *val;	/* NULL: no '=' */
	size_t vlen;
	size_t soff;		/* quoted: offset of the value in strbuf */
	bool quoted, used;
};

struct pctx {
	const char *file;
	unsigned long line;
	const char *event;
	struct kvt_error *err;
	struct word w[MAX_WORDS];
	int nw;
	char **strbuf;
	bool str_bare;		/* the string points into the line */
};

__attribute__((format(printf, 2, 3)))
static int perr(struct pctx *c, const char *fmt, ...)
{
	static const char dig[] = "0123456789abcdef";
	char raw[400], msg[400];
	size_t i, n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* the words of the line it echoes, printable: a control byte (a
	 * carriage return) or a non-ASCII one (a byte-order mark) as \xHH */
	for (i = 0; raw[i] && n + 5 < sizeof(msg); i++) {
		unsigned char ch = (unsigned char)raw[i];

		if (ch >= 0x20 && ch < 0x7f) {
			msg[n++] = (char)ch;
		} else {
			msg[n++] = '\\';
			msg[n++] = 'x';
			msg[n++] = dig[ch >> 4];
			msg[n++] = dig[ch & 15];
		}
	}
	msg[n] = 0;
	if (c->event)
		return kvt_err(c->err, KVT_E_PARSE, "%s:%lu: %s: %s", c->file,
			       c->line, c->event, msg);
	return kvt_err(c->err, KVT_E_PARSE, "%s:%lu: %s", c->file, c->line,
		       msg);
}

static int sbuf_reserve(char **buf, size_t *size, size_t need)
{
	size_t ns;
	char *nb;

	if (*buf && *size >= need)
		return 0;
	ns = *size ? *size : 256;
	while (ns < need)
		ns *= 2;
	nb = realloc(*buf, ns);
	if (!nb)
		return -1;
	*buf = nb;
	*size = ns;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Split the line into words.  Returns 0, or KVT_E_PARSE. */
static int split(struct pctx *c, const char *s, size_t *sused,
		 size_t *strbuf_size)
{
	for (;;) {
		struct word *w;
		const char *start;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '\n' || *s == '#' ||
		    (*s == '\r' && (s[1] == '\n' || !s[1])))
			return 0;
		if (c->nw == MAX_WORDS)
			return perr(c, "too many words (at most %d)",
				    MAX_WORDS);
		w = &c->w[c->nw++];
		memset(w, 0, sizeof(*w));
		start = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n' &&
		       *s != '=' && *s != '"' && *s != '\r')
			s++;
		w->key = start;
		w->klen = (size_t)(s - start);
		if (*s == '"')
			return perr(c, "unexpected '\"' in '%.*s'",
				    (int)(w->klen + 1), start);
		if (*s != '=') {
			if (*s == '\r' && s[1] && s[1] != '\n')
				return perr(c, "unexpected carriage return");
			continue;
		}
		s++;
		if (*s != '"') {
			w->val = s;
			/* unquoted: every byte up to the next blank is the
			 * value's, a '"', '\\' or '#' among them (only a value
			 * that starts with '"' is quoted) */
			while (*s && *s != ' ' && *s != '\t' && *s != '\n' &&
			       !(*s == '\r' && (s[1] == '\n' || !s[1])))
				s++;
			w->vlen = (size_t)(s - w->val);
			continue;
		}
		/* a quoted value: \" and \\ (and \x0a, \x0d: an extension) */
		w->val = s;	/* the value is in strbuf: see wval() */
		s++;
		w->quoted = true;
		w->soff = *sused;
		for (;;) {
			char ch = *s;

			if (!ch || ch == '\n')
				return perr(c, "unterminated quoted value of %.*s",
					    (int)w->klen, w->key);
			if (ch == '"') {
				s++;
				break;
			}
			if (ch == '\\') {
				int h1, h2;

				if (s[1] == '"' || s[1] == '\\') {
					ch = s[1];
					s += 2;
				} else if (s[1] == 'x' &&
					   (h1 = hexval(s[2])) == 0 &&
					   ((h2 = hexval(s[3])) == 0xa ||
					    h2 == 0xd)) {
					ch = (char)(h1 << 4 | h2);
					s += 4;
				} else if (!s[1] || s[1] == '\n' ||
					   (s[1] == '\r' &&
					    (!s[2] || s[2] == '\n'))) {
					return perr(c, "unterminated quoted value of %.*s (a '\\' at the end of the line)",
						    (int)w->klen, w->key);
				} else if ((unsigned char)s[1] < 0x20 ||
					   (unsigned char)s[1] >= 0x7f) {
					return perr(c,
						    "unknown escape '\\' followed by byte 0x%02x in the value of %.*s (only \\\" and \\\\)",
						    (unsigned char)s[1],
						    (int)w->klen, w->key);
				} else {
					return perr(c,
						    "unknown escape '\\%c' in the value of %.*s (only \\\" and \\\\)",
						    s[1], (int)w->klen, w->key);
				}
			} else {
				s++;
			}
			if (sbuf_reserve(c->strbuf, strbuf_size, *sused + 2))
				return kvt_err(c->err, KVT_E_NOMEM,
					       "out of memory");
			(*c->strbuf)[(*sused)++] = ch;
		}
		if (sbuf_reserve(c->strbuf, strbuf_size, *sused + 1))
			return kvt_err(c->err, KVT_E_NOMEM, "out of memory");
		(*c->strbuf)[*sused] = 0;
		w->vlen = *sused - w->soff;
		(*sused)++;
		if (*s && *s != ' ' && *s != '\t' && *s != '\n' &&
		    !(*s == '\r' && (s[1] == '\n' || !s[1])))
			return perr(c, "text after the closing quote of %.*s",
				    (int)w->klen, w->key);
	}
}

static bool keyis(const struct word *w, const char *k)
{
	return w->klen == strlen(k) && !memcmp(w->key, k, w->klen);
}

static const char *wval(struct pctx *c, const struct word *w)
{
	return w->quoted ? *c->strbuf + w->soff : w->val;
}

static struct word *find(struct pctx *c, const char *key)
{
	int i;

	for (i = 1; i < c->nw; i++)
		if (c->w[i].val && keyis(&c->w[i], key)) {
			c->w[i].used = true;
			return &c->w[i];
		}
	return NULL;
}

static struct word *need(struct pctx *c, const char *key)
{
	struct word *w = find(c, key);

	if (!w)
		perr(c, "missing key %s=", key);
	return w;
}

/* Whether the n bytes at s are a number in the 0x form. */
static bool hex_form(const char *s, size_t n)
{
	return n > 2 && s[0] == '0' && s[1] == 'x';
}

/* A number: decimal, or hexadecimal with 0x. */
static int num(struct pctx *c, const char *key, const char *s, size_t n,
	       uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (hex_form(s, n)) {
		for (i = 2; i < n; i++) {
			int h = hexval(s[i]);

			if (h < 0)
				goto bad;
			if (v >> 60)
				goto range;
			v = v << 4 | (uint64_t)h;
		}
	} else {
		if (!n)
			goto bad;
		for (i = 0; i < n; i++) {
			unsigned d = (unsigned char)s[i] - '0';

			if (d > 9)
				goto bad;
			if (v > (UINT64_MAX - d) / 10)
				goto range;
			v = v * 10 + d;
		}
	}
	if (v > max)
		goto range;
	*out = v;
	return 0;
bad:
	return perr(c, "%s: malformed number '%.*s'", key, (int)n, s);
range:
	return perr(c, "%s: number '%.*s' out of range (at most %llu)", key,
		    (int)n, s, (unsigned long long)max);
}

static int getnum(struct pctx *c, const char *key, uint64_t max,
		  uint64_t *out)
{
	struct word *w = need(c, key);

	if (!w)
		return KVT_E_PARSE;
	return num(c, key, wval(c, w), w->vlen, max, out);
}

static int getu32(struct pctx *c, const char *key, uint32_t *out)
{
	uint64_t v;
	int rc = getnum(c, key, UINT32_MAX, &v);

	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

/* A page-aligned address or length (0 is allowed: a no-op, as the lead
 * reads it for mmap, munmap, mprotect and mremap). */
static int getpage(struct pctx *c, const char *key, uint64_t *out)
{
	int rc = getnum(c, key, UINT64_MAX, out);

	if (rc)
		return rc;
	if (*out % KVT_PAGE_SIZE)
		return perr(c,
			    "%s=0x%llx is not a multiple of the page size (4096)",
			    key, (unsigned long long)*out);
	return 0;
}

/*
 * Whether [a, a + l) passes the top of the address space.  A range may end
 * at 2^64 exactly (the last page is a page like any other), where a + l
 * wraps to 0.
 */
static bool past_top(uint64_t a, uint64_t l)
{
	return a + l < a && a + l != 0;
}

static int getfile(struct pctx *c, const char *key, uint64_t *dev,
		   uint64_t *ino)
{
	struct word *w = need(c, key);
	const char *s, *colon;

	if (!w)
		return KVT_E_PARSE;
	s = wval(c, w);
	colon = memchr(s, ':', w->vlen);
	if (!colon)
		return perr(c, "%s: expected DEV:INO, found '%.*s'", key,
			    (int)w->vlen, s);
	/* two decimal numbers (TRACE-TEXT.md), not the 0x form */
	if (hex_form(s, (size_t)(colon - s)) ||
	    hex_form(colon + 1, w->vlen - (size_t)(colon - s) - 1))
		return perr(c, "%s: DEV:INO takes two decimal numbers, found '%.*s'",
			    key, (int)w->vlen, s);
	if (num(c, key, s, (size_t)(colon - s), UINT64_MAX, dev) ||
	    num(c, key, colon + 1, w->vlen - (size_t)(colon - s) - 1,
		UINT64_MAX, ino))
		return KVT_E_PARSE;
	return 0;
}

static int getprot(struct pctx *c, uint8_t *out)
{
	struct word *w = need(c, "prot");
	const char *s;

	if (!w)
		return KVT_E_PARSE;
	s = wval(c, w);
	if (w->vlen != 3 || (s[0] != 'r' && s[0] != '-') ||
	    (s[1] != 'w' && s[1] != '-') || (s[2] != 'x' && s[2] != '-'))
		return perr(c, "prot: expected three characters [r-][w-][x-], found '%.*s'",
			    (int)w->vlen, s);
	*out = (uint8_t)((s[0] == 'r' ? KVT_PROT_READ : 0) |
			 (s[1] == 'w' ? KVT_PROT_WRITE : 0) |
			 (s[2] == 'x' ? KVT_PROT_EXEC : 0));
	return 0;
}

static bool isval(const struct word *w, const char *s, const char *v)
{
	return w->vlen == strlen(v) && !memcmp(s, v, w->vlen);
}

static int getstr(struct pctx *c, const char *key, struct kvt_rec *r)
{
	struct word *w = need(c, key);

	if (!w)
		return KVT_E_PARSE;
	if (w->vlen > KVT_MAX_STR)
		return perr(c, "%s: value longer than %u bytes", key,
			    KVT_MAX_STR);
	r->str = wval(c, w);
	r->str_len = (uint32_t)w->vlen;
	c->str_bare = !w->quoted;
	return 0;
}

static int parse_mmap(struct pctx *c, struct kvt_rec *r)
{
	struct word *w, *anon = NULL;
	const char *v;
	uint64_t a, l;
	int i, nb = 0;

	if (getu32(c, "tid", &r->tid) || getpage(c, "addr", &a) ||
	    getpage(c, "len", &l) || getprot(c, &r->u.mmap.prot))
		return KVT_E_PARSE;
	if (past_top(a, l))
		return perr(c, "addr + len passes 2^64");
	r->u.mmap.addr = a;
	r->u.mmap.len = l;
	w = need(c, "flags");
	if (!w)
		return KVT_E_PARSE;
	v = wval(c, w);
	if (isval(w, v, "shared"))
		r->u.mmap.shared = 1;
	else if (!isval(w, v, "private"))
		return perr(c, "flags: expected private or shared, found '%.*s'",
			    (int)w->vlen, v);
	for (i = 1; i < c->nw; i++)
		if (!c->w[i].val && keyis(&c->w[i], "anon")) {
			if (anon)
				return perr(c, "duplicate word anon");
			anon = &c->w[i];
			anon->used = true;
			nb++;
		}
	if (find(c, "file"))
		nb++;
	if (find(c, "shmem"))
		nb++;
	if (nb != 1)
		return perr(c, nb ? "more than one of anon, file=, shmem="
				  : "missing anon, file= or shmem=");
	if (anon) {
		r->u.mmap.backing = KVT_BACK_ANON;
		if (r->u.mmap.shared)
			return perr(c, "shared anonymous memory must be named with shmem=, not anon");
		if (find(c, "pgoff"))
			return perr(c, "pgoff= goes with file= or shmem=, not anon");
	} else if (find(c, "file")) {
		r->u.mmap.backing = KVT_BACK_FILE;
		if (getfile(c, "file", &r->u.mmap.dev, &r->u.mmap.ino) ||
		    getnum(c, "pgoff", UINT64_MAX, &r->u.mmap.pgoff))
			return KVT_E_PARSE;
	} else {
		r->u.mmap.backing = KVT_BACK_SHMEM;
		if (!r->u.mmap.shared)
			return perr(c, "shmem= goes with flags=shared");
		if (getnum(c, "shmem", UINT64_MAX, &r->u.mmap.ino) ||
		    getnum(c, "pgoff", UINT64_MAX, &r->u.mmap.pgoff))
			return KVT_E_PARSE;
	}
	if (find(c, "path"))
		return getstr(c, "path", r);
	return 0;
}

static int parse_event(struct pctx *c, struct kvt_rec *r)
{
	const struct word *ev = &c->w[0];
	struct word *w;
	const char *v;

#define EV(name) (ev->klen == sizeof(name) - 1 && !memcmp(ev->key, name, ev->klen))
	if (EV("read") || EV("write")) {
		r->type = EV("read") ? KVT_REC_READ : KVT_REC_WRITE;
		return getu32(c, "tid", &r->tid) ||
		       getnum(c, "addr", UINT64_MAX, &r->u.ref.addr)
			       ? KVT_E_PARSE : 0;
	}
	if (EV("fsread") || EV("fswrite")) {
		r->type = EV("fsread") ? KVT_REC_FSREAD : KVT_REC_FSWRITE;
		return getu32(c, "tid", &r->tid) ||
		       getfile(c, "file", &r->u.fs.dev, &r->u.fs.ino) ||
		       getnum(c, "pgoff", UINT64_MAX, &r->u.fs.pgoff)
			       ? KVT_E_PARSE : 0;
	}
	if (EV("clone")) {
		r->type = KVT_REC_CLONE;
		if (getu32(c, "parent", &r->tid) ||
		    getu32(c, "child", &r->u.clone.child))
			return KVT_E_PARSE;
		w = need(c, "flags");
		if (!w)
			return KVT_E_PARSE;
		v = wval(c, w);
		if (isval(w, v, "-"))
			r->u.clone.flags = 0;
		else if (isval(w, v, "vm"))
			r->u.clone.flags = KVT_CLONE_VM;
		else if (isval(w, v, "vm,thread"))
			r->u.clone.flags = KVT_CLONE_VM | KVT_CLONE_THREAD;
		else
			return perr(c, "flags: expected -, vm or vm,thread, found '%.*s'",
				    (int)w->vlen, v);
		return 0;
	}
	if (EV("exec")) {
		r->type = KVT_REC_EXEC;
		return getu32(c, "tid", &r->tid) || getstr(c, "path", r)
			       ? KVT_E_PARSE : 0;
	}
	if (EV("exit")) {
		r->type = KVT_REC_EXIT;
		return getu32(c, "tid", &r->tid);
	}
	if (EV("mmap")) {
		r->type = KVT_REC_MMAP;
		return parse_mmap(c, r);
	}
	if (EV("munmap")) {
		r->type = KVT_REC_MUNMAP;
		if (getu32(c, "tid", &r->tid) ||
		    getpage(c, "addr", &r->u.munmap.addr) ||
		    getpage(c, "len", &r->u.munmap.len))
			return KVT_E_PARSE;
		if (past_top(r->u.munmap.addr, r->u.munmap.len))
			return perr(c, "addr + len passes 2^64");
		return 0;
	}
	if (EV("mremap")) {
		r->type = KVT_REC_MREMAP;
		if (getu32(c, "tid", &r->tid) ||
		    getpage(c, "old", &r->u.mremap.old_addr) ||
		    getpage(c, "oldlen", &r->u.mremap.old_len) ||
		    getpage(c, "new", &r->u.mremap.new_addr) ||
		    getpage(c, "newlen", &r->u.mremap.new_len))
			return KVT_E_PARSE;
		if (past_top(r->u.mremap.old_addr, r->u.mremap.old_len) ||
		    past_top(r->u.mremap.new_addr, r->u.mremap.new_len))
			return perr(c, "address + length passes 2^64");
		return 0;
	}
	if (EV("mprotect")) {
		r->type = KVT_REC_MPROTECT;
		if (getu32(c, "tid", &r->tid) ||
		    getpage(c, "addr", &r->u.mprotect.addr) ||
		    getpage(c, "len", &r->u.mprotect.len) ||
		    getprot(c, &r->u.mprotect.prot))
			return KVT_E_PARSE;
		if (past_top(r->u.mprotect.addr, r->u.mprotect.len))
			return perr(c, "addr + len passes 2^64");
		return 0;
	}
	if (EV("brk")) {
		r->type = KVT_REC_BRK;
		return getu32(c, "tid", &r->tid) ||
		       getnum(c, "old", UINT64_MAX, &r->u.brk.old_brk) ||
		       getnum(c, "new", UINT64_MAX, &r->u.brk.new_brk)
			       ? KVT_E_PARSE : 0;
	}
	if (EV("inode-free")) {
		r->type = KVT_REC_INODE_FREE;
		return getfile(c, "file", &r->u.fs.dev, &r->u.fs.ino);
	}
	if (EV("switch")) {
		r->type = KVT_REC_SWITCH;
		if (getu32(c, "cpu", &r->cpu) ||
		    getu32(c, "prev", &r->u.sw.prev) ||
		    getu32(c, "next", &r->u.sw.next))
			return KVT_E_PARSE;
		r->has |= KVT_HAS_CPU;
		return 0;
	}
	if (EV("lost")) {
		r->type = KVT_REC_LOST;
		w = need(c, "stream");
		if (!w)
			return KVT_E_PARSE;
		v = wval(c, w);
		if (isval(w, v, "k"))
			r->u.lost.stream = KVT_STREAM_K;
		else if (isval(w, v, "r"))
			r->u.lost.stream = KVT_STREAM_R;
		else
			return perr(c, "stream: expected k or r, found '%.*s'",
				    (int)w->vlen, v);
		return getnum(c, "count", UINT64_MAX, &r->u.lost.count);
	}
	if (EV("mark")) {
		r->type = KVT_REC_MARK;
		return getstr(c, "text", r);
	}
#undef EV
	c->event = NULL;
	return perr(c, "unknown event '%.*s'", (int)ev->klen, ev->key);
}

int kvt_text_parse(const char *line, const char *file, unsigned long lineno,
		   struct kvt_rec *r, char **strbuf, size_t *strbuf_size,
		   struct kvt_error *err)
{
	struct pctx c;
	char evname[40];
	size_t sused = 0;
	int i, j, rc;

	memset(r, 0, sizeof(*r));
	memset(&c, 0, sizeof(c));
	c.file = file ? file : "-";
	c.line = lineno;
	c.err = err;
	c.strbuf = strbuf;
	rc = split(&c, line, &sused, strbuf_size);
	if (rc)
		return rc;
	if (!c.nw)
		return 0;
	if (c.w[0].val)
		return perr(&c, "expected an event name, found '%.*s='",
			    (int)c.w[0].klen, c.w[0].key);
	snprintf(evname, sizeof(evname), "%.*s",
		 (int)(c.w[0].klen < 32 ? c.w[0].klen : 32), c.w[0].key);
	c.event = evname;
	for (i = 1; i < c.nw; i++) {
		if (!c.w[i].klen)
			return perr(&c, "expected key=value, found '=%.*s'",
				    (int)c.w[i].vlen, wval(&c, &c.w[i]));
		for (j = 1; j < i; j++)
			if (c.w[i].klen == c.w[j].klen &&
			    !memcmp(c.w[i].key, c.w[j].key, c.w[i].klen) &&
			    !c.w[i].val == !c.w[j].val)
				return perr(&c, "duplicate key %.*s",
					    (int)c.w[i].klen, c.w[i].key);
	}
	/* ts= and cpu= may follow any event (switch has its own cpu=) */
	{
		struct word *w = find(&c, "ts");

		if (w) {
			if (num(&c, "ts", wval(&c, w), w->vlen, UINT64_MAX,
				&r->ts))
				return KVT_E_PARSE;
			r->has |= KVT_HAS_TS;
		}
	}
	rc = parse_event(&c, r);
	if (rc)
		return rc;
	if (r->type != KVT_REC_SWITCH) {
		struct word *w = find(&c, "cpu");

		if (w) {
			uint64_t v;

			if (num(&c, "cpu", wval(&c, w), w->vlen, UINT32_MAX,
				&v))
				return KVT_E_PARSE;
			r->cpu = (uint32_t)v;
			r->has |= KVT_HAS_CPU;
		}
	}
	for (i = 1; i < c.nw; i++)
		if (!c.w[i].used) {
			if (c.w[i].val)
				return perr(&c, "unknown key %.*s=",
					    (int)c.w[i].klen, c.w[i].key);
			return perr(&c, "unexpected word '%.*s'",
				    (int)c.w[i].klen, c.w[i].key);
		}
	/* the string now lives in *strbuf: make it NUL-terminated */
	if (r->str && c.str_bare) {
		if (sbuf_reserve(strbuf, strbuf_size, sused + r->str_len + 1))
			return kvt_err(err, KVT_E_NOMEM, "out of memory");
		memcpy(*strbuf + sused, r->str, r->str_len);
		(*strbuf)[sused + r->str_len] = 0;
		r->str = *strbuf + sused;
	}
	return 1;
}
