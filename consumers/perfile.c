// SPDX-License-Identifier: MIT
/*
 * consumers/perfile.c - "per-process" and "per-thread": one output file per
 * process (or per task, in one directory per process) that has references,
 * plus index.tsv (SEMANTICS.md, Output text forms).  OUT is a directory
 * (a note says when it already holds files, which stay), or one
 * archive when its name ends in .tar, .tar.gz (.tgz) or .tar.zst (removed
 * if the run fails before it is complete), or "-": a tar archive on
 * standard output.
 *
 * Thousands of processes must cost neither thousands of open files and
 * compressor states nor a quadratic merge: each file's references are kept
 * as 8-byte codes in a buffer of its own; a full buffer, or all of them once
 * the buffers together pass buffer=SIZE, go to one anonymous spill file as
 * chunks.  The file of a process (per-thread: of a task) that ended is
 * complete: a background thread writes it (encodes and compresses it,
 * through a kvt_writer with its own compression thread) while the merge
 * goes on.  finish writes the files of what is still alive, one at a time,
 * in the order they were created; an archive gets its entries in that order
 * too (the background thread writes the files of an archive to temporary
 * files that finish then copies in).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum { O_COMPRESS, O_LEVEL, O_THREADS, O_BUFFER, O_TMPDIR };

static const struct kvt_consumer_option perfile_options[] = {
	{ "compress", KVT_OPT_STR, "gzip-blocks",
	  "codec of each binary file: none, gzip, gzip-blocks, zstd" },
	{ "level", KVT_OPT_INT, "0",
	  "compression level (0: 1, the fastest, as gzip -1 and zstd -1)" },
	{ "threads", KVT_OPT_INT, "0", "compression threads (0: default)" },
	{ "buffer", KVT_OPT_SIZE, "64M",
	  "memory for buffered references before they spill to disk (the "
	  "files of ended processes waiting to be written hold at most as "
	  "much again)" },
	{ "tmpdir", KVT_OPT_STR, NULL,
	  "directory of the spill file and of an archive's temporary files "
	  "(default: OUT's parent directory)" },
	{ NULL, 0, NULL, NULL },
};

/* Largest buffer of one file, in references. */
#define UNIT_BUF_MAX	(1u << 15)

/* A run of one file's codes in the spill file: n codes at off, 4 bytes
 * each when narrow (every code of the run was below 2^32), else 8. */
struct chunk {
	uint64_t off;
	uint32_t n;
	uint8_t narrow;
};

/* One output file. */
struct unit {
	uint64_t proc;		/* process serial */
	uint32_t tid;		/* per-thread: creation tid */
	uint64_t tordinal;
	uint64_t refs;
	uint64_t *buf;
	uint32_t nbuf, capbuf;
	struct chunk *chunks;
	uint32_t nchunks, capchunks;
	uint8_t handed;		/* given to the background writer */
	uint64_t job_no;	/* then its place in the writer's queue */
	char *tmp;		/* archive: its temporary file, once written */
};

/* A complete file for the background writer. */
struct job {
	struct unit u;		/* its codes (the job owns buf and chunks) */
	char *path;		/* where to write it */
	uint64_t no;		/* its number, from 1 */
	struct job *next;
};

struct pinfo {
	uint32_t tgid;
	uint8_t dir_made;
	uint64_t ordinal;
	char *exec;		/* first exec path */
	int64_t unit;		/* per-process: its unit, or -1 */
};

struct tinfo {
	uint64_t proc;
	uint64_t ordinal;
	uint32_t ctid;
	int64_t unit;		/* per-thread: its unit, or -1 */
};

struct perfile {
	int per_thread;
	int text;
	char *out;
	int archive;		/* 0 directory, else the filter: */
	int filter;		/* ARCHIVE_FILTER_NONE, _GZIP, _ZSTD */
	struct kvt_writer_opts wo;
	struct kvt_header hdr;
	uint64_t budget;	/* bytes of buffers before a spill */
	uint64_t buffered;	/* bytes in all buffers */
	char *tmpdir;

	struct pinfo *procs;
	uint64_t nprocs, capprocs;
	struct tinfo *tasks;
	uint64_t ntasks, captasks;
	struct unit *units;
	uint64_t nunits, capunits;
	uint64_t last_serial;	/* fast path: serial -> unit */
	int64_t last_unit;

	int spill_fd;
	uint32_t *narrow;	/* a narrow chunk on its way to the spill file */
	uint64_t spill_off;
	uint64_t spills;
	struct archive *ar;
	bool ar_open;		/* OUT opened: remove it if finish fails */
	bool to_stdout;		/* OUT "-": a tar on standard output */
	FILE *log;

	/* the background writer */
	pthread_t bg;
	bool bg_running, bg_stop;
	pthread_mutex_t mu;
	pthread_cond_t cv_job, cv_done;
	struct job *jq_head, *jq_tail;
	uint64_t jq_bytes;	/* bytes of codes held by queued jobs */
	int bg_status;		/* its first failure */
	struct kvt_error bg_err;
	uint64_t bg_files;
	uint64_t bg_queued;	/* jobs queued so far */
	uint8_t *jdone;		/* by job number: its file is written */
	uint64_t capjdone;
};

static int archive_filter_of(const char *out)
{
	if (cons_ends_with(out, ".tar"))
		return ARCHIVE_FILTER_NONE;
	if (cons_ends_with(out, ".tar.gz") || cons_ends_with(out, ".tgz"))
		return ARCHIVE_FILTER_GZIP;
	if (cons_ends_with(out, ".tar.zst"))
		return ARCHIVE_FILTER_ZSTD;
	return -1;
}

/* 1: directory path holds nothing; 0: it holds something; -1: errno. */
static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -1;
	errno = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	if (empty && errno) {
		int e2 = errno;

		closedir(d);
		errno = e2;
		return -1;
	}
	closedir(d);
	return empty;
}

static int perfile_init_common(void **priv, const struct kvt_consumer_args *a,
			       struct kvt_error *err, int per_thread)
{
	struct perfile *p = calloc(1, sizeof(*p));
	struct stat st;
	int f, s;

	if (!p)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	*priv = p;
	p->spill_fd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_job, NULL);
	pthread_cond_init(&p->cv_done, NULL);
	p->per_thread = per_thread;
	p->text = a->text;
	p->log = a->log;
	p->last_unit = -1;
	/* "-": a tar archive on standard output (messages name it so) */
	p->to_stdout = strcmp(a->out, "-") == 0;
	p->out = strdup(p->to_stdout ? "standard output" : a->out);
	if (!p->out)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	s = cons_writer_opts(&p->wo, a, O_COMPRESS, O_LEVEL, O_THREADS, err);
	if (s)
		return s;
	cons_header(&p->hdr, a, KVT_SK_PAGES_NAMED);
	p->budget = (uint64_t)a->opts[O_BUFFER].num;
	if (p->budget < 4096)
		p->budget = 4096;
	if (a->opts[O_TMPDIR].str) {
		p->tmpdir = strdup(a->opts[O_TMPDIR].str);
	} else {
		char *slash;

		p->tmpdir = strdup(a->out);
		if (p->tmpdir) {
			/* OUT's parent directory */
			size_t l = strlen(p->tmpdir);

			while (l > 1 && p->tmpdir[l - 1] == '/')
				p->tmpdir[--l] = 0;
			slash = strrchr(p->tmpdir, '/');
			if (!slash)
				strcpy(p->tmpdir, ".");
			else if (slash == p->tmpdir)
				slash[1] = 0;
			else
				*slash = 0;
		}
	}
	if (!p->tmpdir)
		return cons_error(err, KVT_E_NOMEM, "out of memory");

	f = p->to_stdout ? ARCHIVE_FILTER_NONE : archive_filter_of(a->out);
	if (f >= 0) {
		p->archive = 1;
		p->filter = f;
		p->ar = archive_write_new();
		if (!p->ar)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		if (archive_write_set_format_pax_restricted(p->ar) ||
		    (f == ARCHIVE_FILTER_GZIP &&
		     archive_write_add_filter_gzip(p->ar)) ||
		    (f == ARCHIVE_FILTER_ZSTD &&
		     archive_write_add_filter_zstd(p->ar)))
			return cons_error(err, KVT_E_IO, "%s: %s", a->out,
					  archive_error_string(p->ar));
		if ((p->to_stdout ?
			     archive_write_open_fd(p->ar, STDOUT_FILENO) :
			     archive_write_open_filename(p->ar, a->out)) !=
		    ARCHIVE_OK)
			return cons_error(err, KVT_E_IO,
					  "cannot create %s: %s", p->out,
					  archive_error_string(p->ar));
		p->ar_open = true;
		return 0;
	}
	if (mkdir(a->out, 0777) && errno != EEXIST)
		return cons_error(err, KVT_E_IO, "cannot create directory %s: %s",
				  a->out, strerror(errno));
	if (stat(a->out, &st) || !S_ISDIR(st.st_mode))
		return cons_error(err, KVT_E_IO, "%s is not a directory (and "
				  "not named .tar, .tar.gz or .tar.zst)",
				  a->out);
	if (access(a->out, W_OK))
		return cons_error(err, KVT_E_IO, "cannot write in %s: %s",
				  a->out, strerror(errno));
	/* Files of an earlier run stay beside this run's, which index.tsv
	 * lists: said, not refused (a harness may reuse a directory), and
	 * files of the same name are replaced. */
	s = dir_is_empty(a->out);
	if (s < 0)
		return cons_error(err, KVT_E_IO, "cannot read directory %s: %s",
				  a->out, strerror(errno));
	if (!s && a->log)
		fprintf(a->log, "%s: note: directory %s is not empty: files "
			"this run does not write stay in it (index.tsv lists "
			"this run's)\n", per_thread ? "per-thread" :
			"per-process", a->out);
	return 0;
}

static int per_process_init(void **priv, const struct kvt_consumer_args *a,
			    struct kvt_error *err)
{
	return perfile_init_common(priv, a, err, 0);
}

static int per_thread_init(void **priv, const struct kvt_consumer_args *a,
			   struct kvt_error *err)
{
	return perfile_init_common(priv, a, err, 1);
}

static int perfile_process_start(void *priv, const struct kvt_process_info *pi,
				 struct kvt_error *err)
{
	struct perfile *p = priv;
	struct pinfo *x;

	if (cons_grow((void **)&p->procs, &p->capprocs, pi->serial + 1,
		 sizeof(*p->procs)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	if (pi->serial >= p->nprocs)
		p->nprocs = pi->serial + 1;
	x = &p->procs[pi->serial];
	x->tgid = pi->tgid;
	x->ordinal = pi->ordinal;
	x->unit = -1;
	return 0;
}

static int perfile_task_start(void *priv, const struct kvt_task_info *ti,
			      struct kvt_error *err)
{
	struct perfile *p = priv;
	struct tinfo *x;

	if (cons_grow((void **)&p->tasks, &p->captasks, ti->serial + 1,
		 sizeof(*p->tasks)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	if (ti->serial >= p->ntasks)
		p->ntasks = ti->serial + 1;
	x = &p->tasks[ti->serial];
	x->proc = ti->process_serial;
	x->ctid = ti->ctid;
	x->ordinal = ti->ordinal;
	x->unit = -1;
	return 0;
}

/*
 * The exec column of index.tsv: the path as it is, but for the three bytes
 * that would break the row (a path may hold them), tab, newline and
 * carriage return, written \x09, \x0a and \x0d as kvt-dump writes the
 * last two.  NULL when out of memory.
 */
static char *tsv_field(const char *path)
{
	static const char dig[] = "0123456789abcdef";
	size_t n = strlen(path) + 1;
	char *s, *o;

	for (const char *c = path; *c; c++)
		n += (*c == '\t' || *c == '\n' || *c == '\r') * 3;
	s = o = malloc(n);
	if (!s)
		return NULL;
	for (const char *c = path; *c; c++) {
		unsigned char ch = (unsigned char)*c;

		if (ch == '\t' || ch == '\n' || ch == '\r') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = dig[ch >> 4];
			*o++ = dig[ch & 15];
		} else {
			*o++ = (char)ch;
		}
	}
	*o = '\0';
	return s;
}

static int perfile_exec(void *priv, const struct kvt_task_info *ti,
			const char *path, struct kvt_error *err)
{
	struct perfile *p = priv;
	struct pinfo *x = &p->procs[ti->process_serial];

	if (!x->exec) {
		x->exec = tsv_field(path);
		if (!x->exec)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
	}
	return 0;
}

static int write_unit(struct perfile *p, struct unit *u, const char *path,
		      struct kvt_error *err);
static void unit_path(struct perfile *p, const struct unit *u, char *buf,
		      size_t size);
static int entry_tmp(struct perfile *p, char *buf, size_t size,
		     struct kvt_error *err);

/* Append buffer of u to the spill file as one chunk.  Codes that all fit
 * in 32 bits (pages below 2^29: every trace but the largest) are written as
 * 4 bytes each, halving the spill's writes and reads. */
static int spill_unit(struct perfile *p, struct unit *u, struct kvt_error *err)
{
	size_t len = (size_t)u->nbuf * sizeof(uint64_t), done = 0, i;
	uint64_t nc, any = 0;
	bool narrow;

	if (!u->nbuf)
		return 0;
	for (i = 0; i < u->nbuf; i++)
		any |= u->buf[i];
	narrow = !(any >> 32);
	if (narrow) {
		if (!p->narrow &&
		    !(p->narrow = malloc(UNIT_BUF_MAX * sizeof(uint32_t))))
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		for (i = 0; i < u->nbuf; i++)
			p->narrow[i] = (uint32_t)u->buf[i];
		len = (size_t)u->nbuf * sizeof(uint32_t);
	}
	if (p->spill_fd < 0) {
		size_t l = strlen(p->tmpdir) + 32;
		char *path = malloc(l);

		if (!path)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		snprintf(path, l, "%s/.kvt-spill-XXXXXX", p->tmpdir);
		p->spill_fd = mkstemp(path);
		if (p->spill_fd < 0) {
			cons_error(err, KVT_E_IO, "cannot create a spill file "
				   "in %s (-o tmpdir=): %s", p->tmpdir,
				   strerror(errno));
			free(path);
			return KVT_E_IO;
		}
		unlink(path);
		free(path);
	}
	while (done < len) {
		ssize_t w = pwrite(p->spill_fd, (narrow ? (char *)p->narrow :
						  (char *)u->buf) + done,
				   len - done, (off_t)(p->spill_off + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cons_error(err, KVT_E_IO, "cannot write the "
					  "spill file in %s: %s", p->tmpdir,
					  w < 0 ? strerror(errno) : "disk full");
		done += (size_t)w;
	}
	nc = u->capchunks;
	if (cons_grow((void **)&u->chunks, &nc, (uint64_t)u->nchunks + 1,
		 sizeof(*u->chunks)))
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	u->capchunks = (uint32_t)nc;
	u->chunks[u->nchunks].off = p->spill_off;
	u->chunks[u->nchunks].n = u->nbuf;
	u->chunks[u->nchunks].narrow = narrow;
	u->nchunks++;
	p->spill_off += len;
	p->buffered -= (uint64_t)u->nbuf * sizeof(uint64_t);
	p->spills++;
	u->nbuf = 0;
	return 0;
}

static int spill_all(struct perfile *p, struct kvt_error *err)
{
	uint64_t i;
	int st;

	for (i = 0; i < p->nunits; i++) {
		st = spill_unit(p, &p->units[i], err);
		if (st)
			return st;
	}
	return 0;
}

static int64_t new_unit(struct perfile *p, const struct kvt_ref *r,
			struct kvt_error *err)
{
	struct unit *u;

	if (cons_grow((void **)&p->units, &p->capunits, p->nunits + 1,
		 sizeof(*p->units))) {
		cons_error(err, KVT_E_NOMEM, "out of memory");
		return -1;
	}
	u = &p->units[p->nunits];
	u->proc = r->process_serial;
	if (p->per_thread) {
		u->tid = p->tasks[r->task_serial].ctid;
		u->tordinal = p->tasks[r->task_serial].ordinal;
		p->tasks[r->task_serial].unit = (int64_t)p->nunits;
	} else {
		p->procs[r->process_serial].unit = (int64_t)p->nunits;
	}
	return (int64_t)p->nunits++;
}

static int perfile_refs(void *priv, const struct kvt_ref *refs, size_t n,
			struct kvt_error *err)
{
	struct perfile *p = priv;
	size_t i;
	int st;

	for (i = 0; i < n; i++) {
		const struct kvt_ref *r = &refs[i];
		uint64_t serial = p->per_thread ? r->task_serial :
						  r->process_serial;
		int64_t ui;
		struct unit *u;

		if (p->last_unit >= 0 && p->last_serial == serial) {
			ui = p->last_unit;
		} else {
			ui = p->per_thread ? p->tasks[serial].unit :
					     p->procs[serial].unit;
			if (ui < 0) {
				ui = new_unit(p, r, err);
				if (ui < 0)
					return KVT_E_NOMEM;
			}
			p->last_serial = serial;
			p->last_unit = ui;
		}
		u = &p->units[ui];
		if (u->nbuf == u->capbuf) {
			if (u->capbuf == UNIT_BUF_MAX) {
				st = spill_unit(p, u, err);
				if (st)
					return st;
			} else {
				uint32_t nc = u->capbuf ? u->capbuf * 4 : 64;
				uint64_t *nb;

				if (nc > UNIT_BUF_MAX)
					nc = UNIT_BUF_MAX;
				nb = realloc(u->buf, nc * sizeof(*nb));
				if (!nb)
					return cons_error(err, KVT_E_NOMEM,
							  "out of memory");
				u->buf = nb;
				u->capbuf = nc;
			}
		}
		u->buf[u->nbuf++] = r->page << 3 | (uint64_t)r->kind << 1 |
				    r->named;
		u->refs++;
		p->buffered += sizeof(uint64_t);
		if (p->buffered > p->budget) {
			st = spill_all(p, err);
			if (st)
				return st;
		}
	}
	return 0;
}

/* ---- the background writer ------------------------------------------------ */

/* Take the first queued job and write its file; called with p->mu held
 * (released while writing).  false when the queue is empty. */
static bool run_job(struct perfile *p)
{
	struct job *j = p->jq_head;
	struct kvt_error e;
	uint64_t bytes;
	int st = 0;

	if (!j)
		return false;
	p->jq_head = j->next;
	if (!p->jq_head)
		p->jq_tail = NULL;
	bytes = (uint64_t)j->u.nbuf * sizeof(uint64_t);
	if (!p->bg_status) {
		pthread_mutex_unlock(&p->mu);
		st = write_unit(p, &j->u, j->path, &e);
		if (st && p->archive)
			unlink(j->path);
		pthread_mutex_lock(&p->mu);
		if (st && !p->bg_status) {
			p->bg_status = st;
			p->bg_err = e;
		}
		if (!st)
			p->bg_files++;
	}
	p->jq_bytes -= bytes;
	p->jdone[j->no] = 1;
	pthread_cond_broadcast(&p->cv_done);
	free(j->u.buf);
	free(j->u.chunks);
	free(j->path);
	free(j);
	return true;
}

static void *bg_main(void *arg)
{
	struct perfile *p = arg;

	kvt_helper_thread_start();
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (run_job(p))
			continue;
		if (p->bg_stop)
			break;
		pthread_cond_wait(&p->cv_job, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* The caller writes queued files too, until the queue is empty. */
static void bg_help(struct perfile *p)
{
	if (!p->bg_running)
		return;
	pthread_mutex_lock(&p->mu);
	while (run_job(p))
		;
	pthread_mutex_unlock(&p->mu);
}

/* Stop the background writer after its queue; its first failure. */
static int bg_finish(struct perfile *p, struct kvt_error *err)
{
	int st;

	if (!p->bg_running)
		return 0;
	pthread_mutex_lock(&p->mu);
	p->bg_stop = true;
	pthread_cond_broadcast(&p->cv_job);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->bg, NULL);
	p->bg_running = false;
	st = p->bg_status;
	if (st && err)
		*err = p->bg_err;
	return st;
}

/* Wait until the background writer has done job number n; its status. */
static int bg_wait(struct perfile *p, uint64_t n, struct kvt_error *err)
{
	int st;

	pthread_mutex_lock(&p->mu);
	while (!p->jdone[n] && !p->bg_status)
		pthread_cond_wait(&p->cv_done, &p->mu);
	st = p->bg_status;
	if (st && err)
		*err = p->bg_err;
	pthread_mutex_unlock(&p->mu);
	return st;
}

/* The file of unit ui is complete: hand it to the background writer. */
static int hand_over(struct perfile *p, int64_t ui, struct kvt_error *err)
{
	struct unit *u = &p->units[ui];
	size_t plen = strlen(p->out) + strlen(p->tmpdir) + 256;
	struct job *j;
	char rel[128];
	int st;

	if (u->handed)
		return 0;
	j = calloc(1, sizeof(*j));
	if (j)
		j->path = malloc(plen);
	if (!j || !j->path) {
		if (j)
			free(j);
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	}
	if (p->archive) {
		st = entry_tmp(p, j->path, plen, err);
		if (st) {
			free(j->path);
			free(j);
			return st;
		}
		u->tmp = strdup(j->path);
		if (!u->tmp) {
			unlink(j->path);
			free(j->path);
			free(j);
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		}
	} else {
		struct pinfo *x = &p->procs[u->proc];

		if (p->per_thread && !x->dir_made) {
			char d[48];

			kvt_consumer_name(d, sizeof(d), x->tgid, x->ordinal);
			snprintf(j->path, plen, "%s/%s", p->out, d);
			if (mkdir(j->path, 0777) && errno != EEXIST) {
				st = cons_error(err, KVT_E_IO, "cannot create "
						"directory %s: %s", j->path,
						strerror(errno));
				free(j->path);
				free(j);
				return st;
			}
			x->dir_made = 1;
		}
		unit_path(p, u, rel, sizeof(rel));
		snprintf(j->path, plen, "%s/%s", p->out, rel);
	}
	if (!p->bg_running) {
		if (pthread_create(&p->bg, NULL, bg_main, p)) {
			free(j->path);
			free(j);
			return cons_error(err, KVT_E_NOMEM, "cannot start a "
					  "thread");
		}
		p->bg_running = true;
	}
	/* The job takes the codes; the unit keeps its name and count. */
	j->u = *u;
	u->buf = NULL;
	u->chunks = NULL;
	u->nbuf = u->capbuf = 0;
	u->nchunks = u->capchunks = 0;
	u->handed = 1;
	u->job_no = ++p->bg_queued;
	if (p->last_unit == ui)
		p->last_unit = -1;
	p->buffered -= (uint64_t)j->u.nbuf * sizeof(uint64_t);
	pthread_mutex_lock(&p->mu);
	/* Bound the memory of waiting files: wait while they hold more than
	 * the buffer budget. */
	while (p->jq_head && p->jq_bytes > p->budget && !p->bg_status)
		pthread_cond_wait(&p->cv_done, &p->mu);
	if (cons_grow((void **)&p->jdone, &p->capjdone, u->job_no + 1, 1)) {
		pthread_mutex_unlock(&p->mu);
		free(j->u.buf);
		free(j->u.chunks);
		free(j->path);
		free(j);
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	}
	j->no = u->job_no;
	p->jq_bytes += (uint64_t)j->u.nbuf * sizeof(uint64_t);
	if (p->jq_tail)
		p->jq_tail->next = j;
	else
		p->jq_head = j;
	p->jq_tail = j;
	pthread_cond_signal(&p->cv_job);
	st = p->bg_status;
	if (st && err)
		*err = p->bg_err;
	pthread_mutex_unlock(&p->mu);
	return st;
}

static int perfile_process_end(void *priv, const struct kvt_process_info *pi,
			       struct kvt_error *err)
{
	struct perfile *p = priv;

	if (p->per_thread || pi->serial >= p->nprocs ||
	    p->procs[pi->serial].unit < 0)
		return 0;
	return hand_over(p, p->procs[pi->serial].unit, err);
}

static int perfile_task_end(void *priv, const struct kvt_task_info *ti,
			    struct kvt_error *err)
{
	struct perfile *p = priv;

	if (!p->per_thread || ti->serial >= p->ntasks ||
	    p->tasks[ti->serial].unit < 0)
		return 0;
	return hand_over(p, p->tasks[ti->serial].unit, err);
}

/* ---- finish: write the files ------------------------------------------------ */

/* Relative path of unit u ("600.txt", "600/602.kvt"). */
static void unit_path(struct perfile *p, const struct unit *u, char *buf,
		      size_t size)
{
	const struct pinfo *x = &p->procs[u->proc];
	const char *ext = p->text ? ".txt" : ".kvt";
	char a[48], b[48];

	kvt_consumer_name(a, sizeof(a), x->tgid, x->ordinal);
	if (p->per_thread) {
		kvt_consumer_name(b, sizeof(b), u->tid, u->tordinal);
		snprintf(buf, size, "%s/%s%s", a, b, ext);
	} else {
		snprintf(buf, size, "%s%s", a, ext);
	}
}

/* Calls fn on the codes of u in order (chunks, then the buffer). */
typedef int (*code_fn)(void *ctx, const uint64_t *codes, size_t n,
		       struct kvt_error *err);

static int unit_codes(struct perfile *p, struct unit *u, code_fn fn, void *ctx,
		      struct kvt_error *err)
{
	uint64_t *tmp = NULL;
	uint32_t i;
	int st = 0;

	if (u->nchunks) {
		/* the codes, then a narrow chunk as read */
		tmp = malloc((size_t)UNIT_BUF_MAX * (sizeof(*tmp) +
						     sizeof(uint32_t)));
		if (!tmp)
			return cons_error(err, KVT_E_NOMEM, "out of memory");
	}
	for (i = 0; i < u->nchunks && !st; i++) {
		const struct chunk *c = &u->chunks[i];
		size_t len = (size_t)c->n * (c->narrow ? sizeof(uint32_t) :
							  sizeof(uint64_t));
		char *dst = c->narrow ? (char *)(tmp + UNIT_BUF_MAX) :
					(char *)tmp;
		size_t done = 0, k;

		while (done < len) {
			ssize_t r = pread(p->spill_fd, dst + done,
					  len - done, (off_t)(c->off + done));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				free(tmp);
				return cons_error(err, KVT_E_IO, "cannot read "
						  "the spill file: %s",
						  r < 0 ? strerror(errno) :
						  "cut short");
			}
			done += (size_t)r;
		}
		if (c->narrow) {
			const uint32_t *n32 = (const uint32_t *)dst;

			for (k = 0; k < c->n; k++)
				tmp[k] = n32[k];
		}
		st = fn(ctx, tmp, c->n, err);
	}
	free(tmp);
	if (!st && u->nbuf)
		st = fn(ctx, u->buf, u->nbuf, err);
	return st;
}

static int text_codes(void *ctx, const uint64_t *codes, size_t n,
		      struct kvt_error *err)
{
	struct obuf *o = ctx;
	size_t i;
	int st;

	for (i = 0; i < n; i++) {
		st = obuf_room(o, err);
		if (st)
			return st;
		obuf_line(o, (codes[i] >> 1) & 3, codes[i] >> 3, 1,
			  codes[i] & 1);
	}
	return 0;
}

struct bin_ctx {
	struct kvt_writer *w;
	uint64_t seq;
};

static int bin_codes(void *ctx, const uint64_t *codes, size_t n,
		     struct kvt_error *err)
{
	struct bin_ctx *b = ctx;
	struct kvt_page_rec v[1024];
	size_t i, k;
	int st;

	while (n) {
		k = n < 1024 ? n : 1024;
		for (i = 0; i < k; i++) {
			v[i].seq = ++b->seq;
			v[i].code = codes[i];
		}
		st = kvt_writer_put_pages(b->w, v, k, err);
		if (st)
			return st;
		codes += k;
		n -= k;
	}
	return 0;
}

/* Write the file of u to path. */
static int write_unit(struct perfile *p, struct unit *u, const char *path,
		      struct kvt_error *err)
{
	int st;

	if (p->text) {
		struct obuf o;
		FILE *f = fopen(path, "w");

		if (!f)
			return cons_error(err, KVT_E_IO, "cannot create %s: %s",
					  path, strerror(errno));
		if (obuf_init(&o, f, path)) {
			fclose(f);
			return cons_error(err, KVT_E_NOMEM, "out of memory");
		}
		st = unit_codes(p, u, text_codes, &o, err);
		if (!st)
			st = obuf_flush(&o, err);
		obuf_free(&o);
		if (fclose(f) && !st)
			st = cons_error(err, KVT_E_IO, "cannot write %s: %s",
					path, strerror(errno));
		return st;
	} else {
		struct bin_ctx b = { NULL, 0 };

		st = kvt_writer_open(&b.w, path, &p->hdr, &p->wo, err);
		if (st)
			return st;
		st = unit_codes(p, u, bin_codes, &b, err);
		if (st) {
			/* a partial file that does not look whole */
			kvt_writer_abort(b.w);
			return st;
		}
		return kvt_writer_close(b.w, err);
	}
}

/* Add the file at tmp (then removed) to the archive as name. */
static int archive_add_file(struct perfile *p, const char *name,
			    const char *tmp, struct kvt_error *err)
{
	struct archive_entry *e;
	struct stat st;
	char *buf;
	int fd, s = 0;
	ssize_t r;

	fd = open(tmp, O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		s = cons_error(err, KVT_E_IO, "cannot read %s: %s", tmp,
			       strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return s;
	}
	unlink(tmp);
	buf = malloc(1 << 20);
	e = archive_entry_new();
	if (!buf || !e) {
		close(fd);
		free(buf);
		if (e)
			archive_entry_free(e);
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, st.st_size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(p->ar, e) != ARCHIVE_OK) {
		s = cons_error(err, KVT_E_IO, "%s: %s", p->out,
			       archive_error_string(p->ar));
		goto out;
	}
	while ((r = read(fd, buf, 1 << 20)) > 0) {
		if (archive_write_data(p->ar, buf, (size_t)r) != r) {
			s = cons_error(err, KVT_E_IO, "%s: %s", p->out,
				       archive_error_string(p->ar));
			goto out;
		}
	}
	if (r < 0) {
		s = cons_error(err, KVT_E_IO, "cannot read %s: %s", tmp,
			       strerror(errno));
		goto out;
	}
	if (archive_write_finish_entry(p->ar) != ARCHIVE_OK)
		s = cons_error(err, KVT_E_IO, "%s: %s", p->out,
			       archive_error_string(p->ar));
out:
	archive_entry_free(e);
	free(buf);
	close(fd);
	return s;
}

/* A temporary file path for one archive entry. */
static int entry_tmp(struct perfile *p, char *buf, size_t size,
		     struct kvt_error *err)
{
	int fd;

	snprintf(buf, size, "%s/.kvt-entry-XXXXXX", p->tmpdir);
	fd = mkstemp(buf);
	if (fd < 0)
		return cons_error(err, KVT_E_IO, "cannot create a temporary "
				  "file in %s (-o tmpdir=): %s", p->tmpdir,
				  strerror(errno));
	close(fd);
	return 0;
}

static int write_index(struct perfile *p, const char *path,
		       struct kvt_error *err)
{
	FILE *f = fopen(path, "w");
	char rel[128];
	uint64_t i;
	int st = 0;

	if (!f)
		return cons_error(err, KVT_E_IO, "cannot create %s: %s", path,
				  strerror(errno));
	fputs(p->per_thread ? "path\ttgid\ttid\treferences\texec\n" :
			      "path\ttgid\treferences\texec\n", f);
	for (i = 0; i < p->nunits; i++) {
		const struct unit *u = &p->units[i];
		const struct pinfo *x = &p->procs[u->proc];

		unit_path(p, u, rel, sizeof(rel));
		if (p->per_thread)
			fprintf(f, "%s\t%u\t%u\t%llu\t%s\n", rel, x->tgid,
				u->tid, (unsigned long long)u->refs,
				x->exec ? x->exec : "-");
		else
			fprintf(f, "%s\t%u\t%llu\t%s\n", rel, x->tgid,
				(unsigned long long)u->refs,
				x->exec ? x->exec : "-");
	}
	if (ferror(f))
		st = cons_error(err, KVT_E_IO, "cannot write %s: %s", path,
				strerror(errno));
	if (fclose(f) && !st)
		st = cons_error(err, KVT_E_IO, "cannot write %s: %s", path,
				strerror(errno));
	return st;
}

static int perfile_finish(void *priv, const struct kvt_merge_summary *s,
			  struct kvt_error *err)
{
	struct perfile *p = priv;
	size_t plen = strlen(p->out) + strlen(p->tmpdir) + 256;
	char *path = malloc(plen), rel[128];
	uint64_t i;
	int st = 0, bst;

	(void)s;
	if (!path)
		return cons_error(err, KVT_E_NOMEM, "out of memory");
	/* Files that ended: written by the background writer and this
	 * thread together; then the files of what is still alive; archive
	 * entries go in in creation order. */
	bg_help(p);
	for (i = 0; i < p->nunits && !st; i++) {
		struct unit *u = &p->units[i];

		unit_path(p, u, rel, sizeof(rel));
		if (u->handed) {
			/* written in the background */
			if (p->archive) {
				st = bg_wait(p, u->job_no, err);
				if (st)
					break;	/* cleanup removes u->tmp */
				st = archive_add_file(p, rel, u->tmp, err);
				free(u->tmp);
				u->tmp = NULL;
			}
			continue;
		}
		if (p->archive) {
			st = entry_tmp(p, path, plen, err);
			if (!st)
				st = write_unit(p, u, path, err);
			if (!st)
				st = archive_add_file(p, rel, path, err);
			else
				unlink(path);
		} else {
			struct pinfo *x = &p->procs[u->proc];

			if (p->per_thread && !x->dir_made) {
				char d[48];

				kvt_consumer_name(d, sizeof(d), x->tgid,
						  x->ordinal);
				snprintf(path, plen, "%s/%s", p->out, d);
				if (mkdir(path, 0777) && errno != EEXIST) {
					st = cons_error(err, KVT_E_IO,
							"cannot create "
							"directory %s: %s",
							path, strerror(errno));
					break;
				}
				x->dir_made = 1;
			}
			snprintf(path, plen, "%s/%s", p->out, rel);
			st = write_unit(p, u, path, err);
		}
		/* The file is written: its memory can go. */
		free(u->buf);
		u->buf = NULL;
		u->nbuf = 0;
	}
	bst = bg_finish(p, st ? NULL : err);
	if (!st)
		st = bst;
	if (!st) {
		if (p->archive) {
			st = entry_tmp(p, path, plen, err);
			if (!st)
				st = write_index(p, path, err);
			if (!st)
				st = archive_add_file(p, "index.tsv", path, err);
			else
				unlink(path);
			if (!st && archive_write_close(p->ar) != ARCHIVE_OK)
				st = cons_error(err, KVT_E_IO, "cannot write "
						"%s: %s", p->out,
						archive_error_string(p->ar));
			if (!st)
				p->ar_open = false;
		} else {
			snprintf(path, plen, "%s/index.tsv", p->out);
			st = write_index(p, path, err);
		}
	}
	free(path);
	return st;
}

static void perfile_report(void *priv, FILE *out)
{
	struct perfile *p = priv;

	fprintf(out, "output-files: %llu\n", (unsigned long long)p->nunits);
	fprintf(out, "spilled-chunks: %llu\n", (unsigned long long)p->spills);
}

static void perfile_cleanup(void *priv)
{
	struct perfile *p = priv;
	uint64_t i;

	if (!p)
		return;
	bg_finish(p, NULL);
	for (i = 0; i < p->nunits; i++) {
		free(p->units[i].buf);
		free(p->units[i].chunks);
		if (p->units[i].tmp)
			unlink(p->units[i].tmp);
		free(p->units[i].tmp);
	}
	for (i = 0; i < p->nprocs; i++)
		free(p->procs[i].exec);
	free(p->units);
	free(p->jdone);
	free(p->procs);
	free(p->tasks);
	if (p->spill_fd >= 0)
		close(p->spill_fd);
	free(p->narrow);
	if (p->ar) {
		struct stat st;

		/* An archive that finish did not complete lacks entries (and
		 * index.tsv): no end-of-archive marker that would make it look
		 * whole, and it goes away (if it is a file). */
		if (p->ar_open)
			archive_write_fail(p->ar);
		archive_write_free(p->ar);
		if (p->ar_open && !p->to_stdout && !stat(p->out, &st) &&
		    S_ISREG(st.st_mode))
			unlink(p->out);
	}
	free(p->tmpdir);
	free(p->out);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv_job);
	pthread_cond_destroy(&p->cv_done);
	free(p);
}

const struct kvt_consumer_ops kvt_consumer_per_process = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "per-process",
	.help = "one file per process (KIND PAGE NAMED) and index.tsv, in a "
		"directory, a .tar/.tar.gz/.tar.zst, or a tar on - (standard "
		"output)",
	.options = perfile_options,
	.init = per_process_init,
	.process_start = perfile_process_start,
	.task_start = perfile_task_start,
	.exec = perfile_exec,
	.task_end = perfile_task_end,
	.process_end = perfile_process_end,
	.refs = perfile_refs,
	.finish = perfile_finish,
	.report = perfile_report,
	.cleanup = perfile_cleanup,
};

const struct kvt_consumer_ops kvt_consumer_per_thread = {
	.abi_version = KVT_CONSUMER_ABI_VERSION,
	.name = "per-thread",
	.help = "one directory per process, one file per task (KIND PAGE "
		"NAMED), and index.tsv (OUT as for per-process)",
	.options = perfile_options,
	.init = per_thread_init,
	.process_start = perfile_process_start,
	.task_start = perfile_task_start,
	.exec = perfile_exec,
	.task_end = perfile_task_end,
	.process_end = perfile_process_end,
	.refs = perfile_refs,
	.finish = perfile_finish,
	.report = perfile_report,
	.cleanup = perfile_cleanup,
};
