/* plan_file: writing a compiled plan and its rules' names to a compact
 * binary file and reading them back (plan_file.h).
 *
 * The file's layout, native byte order: magic (8 bytes), the tag, a header of u32s
 * (mode, queue, queue count, strings, sets, chains, names), the table
 * comment; the strings that statements and verdicts name (index 0: none);
 * each set (name, fields, flags, meter values, elements: the key fields
 * it has, each value in the bytes its field takes,
 * then verdict and rule); each chain with its rules; the
 * rules' names.  A string is a u32 length (with its NUL; 0: none) and its
 * bytes. */
#include "config.h"

#include "plan_file.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char magic[8] = "SGPLAN\0\1";

/* The largest file read: far above a plan of a million elements. */
#define PLAN_FILE_MAX ((size_t)1 << 30)

/* --- writing -------------------------------------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
	/* the strings named by statements and verdicts: an open hash of
	 * indices into v (1-based; 0: a free slot) */
	const char **v;
	size_t n, capv;
	uint32_t *slot;
	size_t nslot;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 1 << 16;
		char *b;

		while (cap < o->len + n)
			cap *= 2;
		if (!(b = realloc(o->buf, cap))) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put32(struct out *o, uint32_t v)
{
	put(o, &v, sizeof(v));
}

static void put_str(struct out *o, const char *s)
{
	put32(o, s ? (uint32_t)strlen(s) + 1 : 0);
	if (s)
		put(o, s, strlen(s) + 1);
}

/* A key value in the len bytes its field has, least significant first. */
static void put_value(struct out *o, u128 v, size_t len)
{
	uint8_t b[sizeof(u128)];

	for (size_t k = 0; k < len; k++, v >>= 8)
		b[k] = (uint8_t)v;
	put(o, b, len);
}

static size_t str_hash(const char *s)
{
	size_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The index of s among the named strings (0 for NULL), added when new. */
static uint32_t intern(struct out *o, const char *s)
{
	size_t h;

	if (!s || o->oom)
		return 0;
	if (2 * (o->n + 1) > o->nslot) {
		size_t nslot = o->nslot ? 2 * o->nslot : 256;
		uint32_t *slot = calloc(nslot, sizeof(*slot));

		if (!slot) {
			o->oom = true;
			return 0;
		}
		for (size_t i = 0; i < o->n; i++) {
			size_t k = str_hash(o->v[i]) & (nslot - 1);

			while (slot[k])
				k = (k + 1) & (nslot - 1);
			slot[k] = (uint32_t)i + 1;
		}
		free(o->slot);
		o->slot = slot;
		o->nslot = nslot;
	}
	for (h = str_hash(s) & (o->nslot - 1); o->slot[h]; h = (h + 1) & (o->nslot - 1))
		if (strcmp(o->v[o->slot[h] - 1], s) == 0)
			return o->slot[h];
	if (o->n == o->capv) {
		size_t cap = o->capv ? 2 * o->capv : 64;
		const char **v = realloc(o->v, cap * sizeof(*v));

		if (!v) {
			o->oom = true;
			return 0;
		}
		o->v = v;
		o->capv = cap;
	}
	o->v[o->n++] = s;
	o->slot[h] = (uint32_t)o->n;
	return (uint32_t)o->n;
}

static void put_verdict(struct out *o, const struct plan_verdict *v)
{
	uint32_t w[3] = { (uint32_t)v->kind, intern(o, v->chain),
			  (uint32_t)v->queue | (uint32_t)v->queues << 16 };

	put(o, w, sizeof(w));
}

/* Every string statements and verdicts name, into o's table (a first
 * pass: the table goes before the body that refers to it). */
static void intern_all(struct out *o, const struct plan *p)
{
	const char *last = NULL;

	for (size_t i = 0; i < p->nsets; i++)
		for (size_t j = 0; j < p->sets[i].nelems; j++) {
			const char *c = p->sets[i].elems[j].verdict.chain;

			if (c && c != last)
				intern(o, c);
			last = c;
		}
	for (size_t i = 0; i < p->nchains; i++)
		for (size_t j = 0; j < p->chains[i].nrules; j++) {
			const struct plan_rule *r = &p->chains[i].rules[j];

			intern(o, r->verdict.chain);
			for (size_t k = 0; k < r->nstmts; k++)
				intern(o, r->stmts[k].str);
		}
}

/* The body after the header and the strings: sets, chains, names. */
static void put_body(struct out *o, const struct plan *p, const struct policy *pol)
{
	for (size_t i = 0; i < p->nsets; i++) {
		const struct plan_set *s = &p->sets[i];
		uint32_t w[12] = { (uint32_t)s->nfields, s->interval, s->counter, s->binding,
				   s->attempts, s->meter, s->rate, s->unit, s->burst, s->timeout,
				   (uint32_t)s->nelems, 0 };

		put(o, s->name, sizeof(s->name));
		for (size_t f = 0; f < 4; f++)
			put32(o, f < s->nfields ? (uint32_t)s->fields[f] : 0);
		put(o, w, sizeof(w));
		for (size_t j = 0; j < s->nelems; j++) {
			const struct plan_elem *e = &s->elems[j];

			for (size_t f = 0; f < s->nfields; f++) {
				put_value(o, e->lo[f], plan_field_len(s->fields[f]));
				put_value(o, e->hi[f], plan_field_len(s->fields[f]));
			}
			put_verdict(o, &e->verdict);
			put32(o, e->rule);
		}
	}
	for (size_t i = 0; i < p->nchains; i++) {
		const struct plan_chain *c = &p->chains[i];

		put(o, c->name, sizeof(c->name));
		put32(o, (uint32_t)c->hook);
		put32(o, c->policy_drop);
		put32(o, (uint32_t)c->nrules);
		for (size_t j = 0; j < c->nrules; j++) {
			const struct plan_rule *r = &c->rules[j];

			put32(o, (uint32_t)r->nstmts);
			for (size_t k = 0; k < r->nstmts; k++) {
				const struct plan_stmt *st = &r->stmts[k];
				uint32_t w[5] = { (uint32_t)st->kind, st->arg, st->unit, st->burst,
						  intern(o, st->str) };

				put(o, w, sizeof(w));
			}
			put_verdict(o, &r->verdict);
			put_str(o, r->comment);
		}
	}
	for (size_t i = 0; pol && i < pol->nrules; i++)
		put_str(o, pol->rules[i].name);
}

int plan_file_write(const char *path, const struct plan *p, const struct policy *pol,
		    const uint8_t tag[PLAN_FILE_TAG])
{
	struct out o = { 0 };
	int rc = -1;

	intern_all(&o, p);
	put(&o, magic, sizeof(magic));
	put(&o, tag, PLAN_FILE_TAG);
	put32(&o, (uint32_t)p->mode);
	put32(&o, p->queue);
	put32(&o, p->queue_count);
	put32(&o, (uint32_t)o.n);
	put32(&o, (uint32_t)p->nsets);
	put32(&o, (uint32_t)p->nchains);
	put32(&o, pol ? (uint32_t)pol->nrules : 0);
	put_str(&o, p->comment);
	for (size_t i = 0; i < o.n; i++)
		put_str(&o, o.v[i]);
	put_body(&o, p, pol);
	if (o.oom)
		errno = ENOMEM;
	else	/* a cache: not worth an fsync */
		rc = write_file_atomic(path, o.buf, o.len, 0640, false, NULL);
	free(o.buf);
	free(o.v);
	free(o.slot);
	return rc;
}

/* --- reading -------------------------------------------------------------- */

struct in {
	const char *p, *end;
	bool bad;
};

static const void *take(struct in *i, size_t n)
{
	const char *p = i->p;

	if (i->bad || (size_t)(i->end - i->p) < n) {
		i->bad = true;
		return NULL;
	}
	i->p += n;
	return p;
}

static uint32_t take32(struct in *i)
{
	const void *p = take(i, sizeof(uint32_t));
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

/* A string in place (NULL for none, or when bad). */
static const char *take_str(struct in *i)
{
	uint32_t n = take32(i);
	const char *s = n ? take(i, n) : NULL;

	if (s && s[n - 1] != '\0')
		i->bad = true;
	return i->bad ? NULL : s;
}

/* A key value of len bytes (put_value). */
static u128 take_value(struct in *i, size_t len)
{
	const uint8_t *b = take(i, len);
	u128 v = 0;

	for (size_t k = len; b && k > 0; k--)
		v = v << 8 | b[k - 1];
	return v;
}

static void take_verdict(struct in *i, const char *const *strs, uint32_t nstrs,
			 struct plan_verdict *v)
{
	uint32_t kind = take32(i), s = take32(i), q = take32(i);

	if (kind > PV_QUEUE || s > nstrs) {
		i->bad = true;
		return;
	}
	*v = (struct plan_verdict){ (enum plan_verdict_kind)kind, s ? strs[s - 1] : NULL,
				    (uint16_t)q, (uint16_t)(q >> 16) };
}

static int read_sets(struct in *i, struct plan *p, const char *const *strs, uint32_t nstrs,
		     uint32_t nsets)
{
	if (!(p->sets = calloc(nsets + 1, sizeof(*p->sets))))
		return -1;
	p->capsets = nsets + 1;
	for (uint32_t k = 0; k < nsets && !i->bad; k++) {
		struct plan_set *s = &p->sets[p->nsets++];
		const char *name = take(i, sizeof(s->name));
		uint32_t fields[4], w[12];

		for (size_t f = 0; f < 4; f++)
			fields[f] = take32(i);
		for (size_t f = 0; f < 12; f++)
			w[f] = take32(i);
		if (i->bad || name[sizeof(s->name) - 1] || w[0] > 4) {
			i->bad = true;
			break;
		}
		memcpy(s->name, name, sizeof(s->name));
		s->nfields = w[0];
		for (size_t f = 0; f < 4; f++)
			s->fields[f] = (enum plan_field)fields[f];
		s->interval = w[1], s->counter = w[2], s->binding = w[3];
		s->attempts = w[4], s->meter = w[5];
		s->rate = w[6], s->unit = w[7], s->burst = w[8], s->timeout = w[9];
		for (size_t f = 0; f < s->nfields; f++)
			if (s->fields[f] > PF_OIFNAME)
				i->bad = true;
		if (i->bad || w[10] > (size_t)(i->end - i->p) / 12) {
			i->bad = true;
			break;
		}
		if (!(s->elems = calloc(w[10] + 1, sizeof(*s->elems))))
			return -1;
		s->cap = w[10] + 1;
		for (uint32_t j = 0; j < w[10] && !i->bad; j++) {
			struct plan_elem *e = &s->elems[s->nelems++];

			for (size_t f = 0; f < s->nfields; f++) {
				e->lo[f] = take_value(i, plan_field_len(s->fields[f]));
				e->hi[f] = take_value(i, plan_field_len(s->fields[f]));
			}
			take_verdict(i, strs, nstrs, &e->verdict);
			e->rule = take32(i);
		}
	}
	return 0;
}

static int read_chains(struct in *i, struct plan *p, const char *const *strs, uint32_t nstrs,
		       uint32_t nchains)
{
	if (!(p->chains = calloc(nchains + 1, sizeof(*p->chains))))
		return -1;
	p->capchains = nchains + 1;
	for (uint32_t k = 0; k < nchains && !i->bad; k++) {
		struct plan_chain *c = &p->chains[p->nchains++];
		const char *name = take(i, sizeof(c->name));
		uint32_t hook = take32(i), drop = take32(i), nrules = take32(i);

		if (i->bad || name[sizeof(c->name) - 1] || hook > PH_FORWARD ||
		    nrules > (size_t)(i->end - i->p) / 16) {
			i->bad = true;
			break;
		}
		memcpy(c->name, name, sizeof(c->name));
		c->hook = (enum plan_hook)hook;
		c->policy_drop = drop;
		if (!(c->rules = calloc(nrules + 1, sizeof(*c->rules))))
			return -1;
		c->cap = nrules + 1;
		for (uint32_t j = 0; j < nrules && !i->bad; j++) {
			struct plan_rule *r = &c->rules[c->nrules++];
			uint32_t n = take32(i);
			const char *comment;

			if (n > sizeof(r->stmts) / sizeof(r->stmts[0])) {
				i->bad = true;
				break;
			}
			r->nstmts = n;
			for (uint32_t s = 0; s < n; s++) {
				struct plan_stmt *st = &r->stmts[s];
				uint32_t kind = take32(i), arg = take32(i), unit = take32(i),
					 burst = take32(i), str = take32(i);

				if (kind > PS_CT_DIRECTION || str > nstrs) {
					i->bad = true;
					break;
				}
				*st = (struct plan_stmt){ (enum plan_stmt_kind)kind, arg, unit, burst,
							  str ? strs[str - 1] : NULL };
			}
			take_verdict(i, strs, nstrs, &r->verdict);
			comment = take_str(i);
			if (comment && !(r->comment = strdup(comment)))
				return -1;
		}
	}
	return 0;
}

int plan_file_read(const char *path, struct plan_file *f)
{
	char *blob;
	size_t len;

	memset(f, 0, sizeof(*f));
	if (read_file_limited(path, PLAN_FILE_MAX, &blob, &len, NULL) < 0)
		return -1;
	return plan_file_parse(f, blob, len);
}

int plan_file_parse(struct plan_file *f, char *blob, size_t len)
{
	uint32_t mode, queue, count, nstrs, nsets, nchains, nnames;
	const char **strs = NULL, *comment;
	struct in i;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	f->blob = blob;
	i = (struct in){ f->blob, f->blob + len, false };
	if (len < sizeof(magic) + PLAN_FILE_TAG || memcmp(f->blob, magic, sizeof(magic))) {
		errno = EINVAL;
		return -1;
	}
	take(&i, sizeof(magic) + PLAN_FILE_TAG);
	mode = take32(&i), queue = take32(&i), count = take32(&i), nstrs = take32(&i);
	nsets = take32(&i), nchains = take32(&i), nnames = take32(&i);
	comment = take_str(&i);
	if (i.bad || mode > PLAN_KERNEL_ONLY || nstrs > len || nsets > len || nchains > len ||
	    nnames > len) {
		errno = EINVAL;
		return -1;
	}
	if (!(f->plan = plan_alloc((enum plan_mode)mode)) ||
	    !(strs = calloc(nstrs + 1, sizeof(*strs))) ||
	    (comment && !(f->plan->comment = strdup(comment))))
		goto oom;
	f->plan->queue = (uint16_t)queue;
	f->plan->queue_count = (uint16_t)count;
	for (uint32_t k = 0; k < nstrs && !i.bad; k++) {
		const char *s = take_str(&i);

		if (!s)
			i.bad = true;
		else if (!(strs[k] = plan_strdup(f->plan, s)))
			goto oom;
	}
	if (read_sets(&i, f->plan, strs, nstrs, nsets) < 0 ||
	    read_chains(&i, f->plan, strs, nstrs, nchains) < 0 ||
	    !(f->names = calloc(nnames + 1, sizeof(*f->names))))
		goto oom;
	for (uint32_t k = 0; k < nnames && !i.bad; k++)
		f->names[f->nnames++] = take_str(&i);
	if (i.bad || i.p != i.end) {
		errno = EINVAL;
		goto out;
	}
	rc = 0;
	goto out;
oom:
	errno = ENOMEM;
out:
	free(strs);
	return rc;
}

int plan_file_tag(const char *path, uint8_t tag[PLAN_FILE_TAG])
{
	char head[sizeof(magic) + PLAN_FILE_TAG];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic))) {
		errno = EINVAL;
		return -1;
	}
	memcpy(tag, head + sizeof(magic), PLAN_FILE_TAG);
	return 0;
}

void plan_file_fini(struct plan_file *f)
{
	plan_free(f->plan);
	free(f->names);
	free(f->blob);
	memset(f, 0, sizeof(*f));
}
