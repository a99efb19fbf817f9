#include "config.h"

#include "diag.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diag_list_init(struct diag_list *l)
{
	memset(l, 0, sizeof(*l));
}

void diag_list_fini(struct diag_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].file);
		free(l->items[i].path);
		free(l->items[i].rule);
		free(l->items[i].message);
	}
	free(l->items);
	for (size_t i = 0; i < l->ntallies; i++)
		free(l->tallies[i].file);
	free(l->tallies);
	memset(l, 0, sizeof(*l));
}

void diag_list_cap(struct diag_list *l, size_t per_kind)
{
	l->capped = per_kind != SIZE_MAX;
	l->per_kind = per_kind;
}

/* The tally of kind and acknowledged, made when new; NULL out of memory.
 * A policy has a handful of kinds: a linear search is enough. */
static struct diag_tally *tally_of(struct diag_list *l, enum diag_severity sev, const char *file,
				   const char *kind, bool acknowledged)
{
	struct diag_tally *t;

	for (size_t i = 0; i < l->ntallies; i++)
		if (l->tallies[i].acknowledged == acknowledged && strcmp(l->tallies[i].kind, kind) == 0)
			return &l->tallies[i];
	t = realloc(l->tallies, (l->ntallies + 1) * sizeof(*t));
	if (!t)
		return NULL;
	l->tallies = t;
	t = &t[l->ntallies++];
	*t = (struct diag_tally){ kind, acknowledged, sev, xstrdup_or_null(file ? file : ""), 0, 0 };
	return t;
}

bool diag_admit(struct diag_list *l, enum diag_severity sev, const char *file,
		const char *kind, bool acknowledged)
{
	struct diag_tally *t;

	if (!l->capped || !kind)
		return true;
	/* out of memory: kept, as an uncapped list would */
	if (!(t = tally_of(l, sev, file, kind, acknowledged)))
		return true;
	if (t->kept < l->per_kind) {
		t->kept++;
		return true;
	}
	t->omitted++;
	if (sev == DIAG_ERROR)
		l->errors++;
	return false;
}

size_t diag_omitted(const struct diag_list *l, enum diag_severity sev, bool acknowledged)
{
	size_t n = 0;

	for (size_t i = 0; i < l->ntallies; i++)
		if (l->tallies[i].severity == sev && l->tallies[i].acknowledged == acknowledged)
			n += l->tallies[i].omitted;
	return n;
}

/* Bytes of the first max characters of s[0, len): a UTF-8 continuation
 * byte (10xxxxxx) belongs to the character before it. */
static size_t char_prefix(const char *s, size_t len, size_t max)
{
	size_t i = 0, chars = 0;

	for (; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max)
			break;
	return i;
}

/* Write s[0, len) at out, cut to max characters and "..." when longer;
 * returns the end.  A cut drops at least a byte and adds three. */
static char *put_cut(char *out, const char *s, size_t len, size_t max)
{
	size_t keep = char_prefix(s, len, max);

	memcpy(out, s, keep);
	out += keep;
	if (keep < len) {
		memcpy(out, "...", 3);
		out += 3;
	}
	return out;
}

static char *dup_cut(const char *s, size_t max)
{
	size_t len = strlen(s);
	char *out = malloc(char_prefix(s, len, max) + 4);

	if (out)
		*put_cut(out, s, len, max) = '\0';
	return out;
}

/* s with every quoted value ("...") cut to DIAG_QUOTE_MAX characters and
 * every other run between the characters of seps (which hold '"') cut to
 * max.  A cut run had over 64 characters, so bytes, and gains at most
 * two: the output is at most 3 * len / 64 longer. */
static char *runs_cut(const char *s, const char *seps, size_t max)
{
	size_t len = strlen(s);
	char *out = malloc(len + 3 * (len / DIAG_QUOTE_MAX) + 4), *o = out;

	while (o && *s) {
		const char *end = *s == '"' ? strchr(s + 1, '"') : NULL;
		size_t n;

		if (end) {
			*o++ = '"';
			o = put_cut(o, s + 1, (size_t)(end - s - 1), DIAG_QUOTE_MAX);
			*o++ = '"';
			s = end + 1;
		} else if (strchr(seps, *s)) {
			*o++ = *s++;	/* a separator, or a quote without a partner */
		} else {
			n = strcspn(s, seps);
			o = put_cut(o, s, n, max);
			s += n;
		}
	}
	if (o)
		*o = '\0';
	return out;
}

void diag_add(struct diag_list *l, enum diag_severity sev, const char *file,
	      const char *path, const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(l, sev, file, path, rule, fmt, ap);
	va_end(ap);
}

void diag_vadd(struct diag_list *l, enum diag_severity sev, const char *file,
	       const char *path, const char *rule, const char *fmt, va_list ap)
{
	struct diag *d;
	char *raw;

	if (sev == DIAG_ERROR)
		l->errors++;
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct diag *n = realloc(l->items, cap * sizeof(*n));

		if (!n)
			return;	/* still counted in l->errors */
		l->items = n;
		l->cap = cap;
	}
	d = &l->items[l->count++];
	d->severity = sev;
	d->kind = NULL;
	d->acknowledged = false;
	d->file = xstrdup_or_null(file ? file : "");
	d->path = runs_cut(path ? path : "", ".\"", DIAG_QUOTE_MAX);
	d->rule = rule ? dup_cut(rule, DIAG_QUOTE_MAX) : NULL;
	if (vasprintf(&raw, fmt, ap) < 0)
		raw = NULL;
	d->message = raw ? runs_cut(raw, " \"", DIAG_WORD_MAX) : NULL;
	free(raw);
}

const char *diag_last(const struct diag_list *l)
{
	if (l->count && l->items[l->count - 1].message)
		return l->items[l->count - 1].message;
	return l->count || l->errors ? "out of memory" : "";
}

char *diag_format(const struct diag *d)
{
	const char *sev = d->severity == DIAG_ERROR ? "error" :
			  d->acknowledged ? "acknowledged" : "warning";
	char *out = NULL, *rule = NULL;
	int n;

	if (d->rule && asprintf(&rule, " (rule \"%s\")", d->rule) < 0)
		return NULL;
	/* kernel and system errors have no file: start with the severity */
	n = asprintf(&out, "%s%s%s%s%s%s: %s%s%s%s", d->file ? d->file : "",
		     d->path && *d->path ? ": " : "", d->path ? d->path : "",
		     rule ? rule : "", d->file && *d->file ? ": " : "", sev,
		     d->message ? d->message : "out of memory",
		     d->kind ? " [" : "", d->kind ? d->kind : "", d->kind ? "]" : "");
	free(rule);
	return n < 0 ? NULL : out;
}
