#include "config.h"

#include "diag.h"
#include "util.h"

#include <stdarg.h>
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
	memset(l, 0, sizeof(*l));
}

void diag_add(struct diag_list *l, enum diag_severity sev, const char *file,
	      const char *path, const char *rule, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

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
	d->file = xstrdup_or_null(file ? file : "");
	d->path = xstrdup_or_null(path ? path : "");
	d->rule = rule ? xstrdup_or_null(rule) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&d->message, fmt, ap) < 0)
		d->message = NULL;
	va_end(ap);
}

const char *diag_last(const struct diag_list *l)
{
	if (l->count && l->items[l->count - 1].message)
		return l->items[l->count - 1].message;
	return l->count || l->errors ? "out of memory" : "";
}

char *diag_format(const struct diag *d)
{
	const char *sev = d->severity == DIAG_ERROR ? "error" : "warning";
	char *out = NULL, *rule = NULL;
	int n;

	if (d->rule && asprintf(&rule, " (rule \"%s\")", d->rule) < 0)
		return NULL;
	/* kernel and system errors have no file: start with the severity */
	n = asprintf(&out, "%s%s%s%s%s%s: %s", d->file ? d->file : "",
		     d->path && *d->path ? ": " : "", d->path ? d->path : "",
		     rule ? rule : "", d->file && *d->file ? ": " : "", sev,
		     d->message ? d->message : "out of memory");
	free(rule);
	return n < 0 ? NULL : out;
}
