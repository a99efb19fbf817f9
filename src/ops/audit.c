#include "config.h"

#include "audit.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void audit_list_fini(struct audit_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].kind);
		free(l->v[i].rule);
		free(l->v[i].object);
		free(l->v[i].message);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void audit_add(struct audit_list *l, enum audit_severity sev, const char *kind,
	       const char *rule, const char *object, const char *fmt, ...)
{
	struct audit_finding *f;
	va_list ap;

	if (grow_array(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0) {
		l->oom = true;
		return;
	}
	f = &l->v[l->n++];
	f->severity = sev;
	f->acknowledged = false;
	f->kind = strdup(kind);
	f->rule = xstrdup_or_null(rule);
	f->object = xstrdup_or_null(object);
	va_start(ap, fmt);
	if (vasprintf(&f->message, fmt, ap) < 0)
		f->message = NULL;
	va_end(ap);
	if (!f->kind || !f->message || (rule && !f->rule) || (object && !f->object))
		l->oom = true;
}

int audit_max_severity(const struct audit_list *l)
{
	int m = -1;

	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i].acknowledged && (int)l->v[i].severity > m)
			m = (int)l->v[i].severity;
	return m;
}

const char *audit_severity_name(enum audit_severity s)
{
	return s == AUDIT_ERROR ? "error" : s == AUDIT_WARNING ? "warning" : "info";
}

json_t *audit_json(const struct audit_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++) {
		const struct audit_finding *f = &l->v[i];
		json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s}",
			"severity", audit_severity_name(f->severity), "kind", f->kind ? f->kind : "",
			"rule", f->rule, "object", f->object,
			"message", f->message ? f->message : "out of memory");

		if (o && f->acknowledged)
			json_object_set_new(o, "acknowledged", json_true());
		json_array_append_new(a, o);
	}
	return a;
}
