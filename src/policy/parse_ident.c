/* parse_ident: the identity part of the policy language, named identity
 * groups ("identities" at the top of a policy or an included file) and a
 * require-ipsec rule's "ipsec.identities". */
#include "config.h"

#include "parse_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse one pattern string at path into *out; false after reporting. */
static bool one_pattern(struct pctx *c, json_t *e, const char *file, const char *path,
			const char *rule, struct ident_pat *out)
{
	char err[400];

	if (!json_is_string(e)) {
		perr(c, file, path, rule, "expected an identity (a string), got %s", pjson_type(e));
		return false;
	}
	if (ident_pat_parse(json_string_value(e), out, err, sizeof(err)) < 0) {
		if (strcmp(err, "out of memory") == 0)
			c->oom = true;
		else
			perr(c, file, path, rule, "%s", err);
		return false;
	}
	return true;
}

/* A string or a non-empty array of strings, as an array (a new reference),
 * or NULL after reporting. */
static json_t *as_list(struct pctx *c, json_t *v, const char *file, const char *path,
		       const char *rule, const char *what)
{
	if (json_is_string(v))
		return json_pack("[O]", v);
	if (json_is_array(v) && json_array_size(v))
		return json_incref(v);
	perr(c, file, path, rule, "expected %s or a non-empty array of them, got %s", what,
	     json_is_array(v) ? "an empty array" : pjson_type(v));
	return NULL;
}

static void collect_one(struct pctx *c, const char *name, json_t *v, const char *file)
{
	long dup = nindex_find(&c->ident_ix, name);
	struct identdef *d;
	json_t *list, *e;
	char *path;
	size_t i;

	if (asprintf(&path, "identities.%s", name) < 0) {
		c->oom = true;
		return;
	}
	if (!pdef_name_ok(c, "identity group", name, file, path,
			  dup >= 0 ? c->idents[dup].file : NULL,
			  dup >= 0 ? c->idents[dup].path : NULL) ||
	    grow_array(&c->idents, &c->capidents, c->nidents + 1, sizeof(*c->idents))) {
		free(path);
		return;
	}
	if (nindex_add(&c->ident_ix, name, c->nidents) < 0) {
		c->oom = true;
		free(path);
		return;
	}
	d = &c->idents[c->nidents++];
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->file = file;
	d->path = path;
	if (!(list = as_list(c, v, file, path, NULL, "an identity")))
		return;
	if (!(d->pats = calloc(json_array_size(list), sizeof(*d->pats)))) {
		c->oom = true;
		json_decref(list);
		return;
	}
	json_array_foreach(list, i, e) {
		char p[700];

		snprintf(p, sizeof(p), json_is_array(v) ? "%s[%zu]" : "%s", path, i);
		if (json_is_string(e) && json_string_value(e)[0] == '@') {
			perr(c, file, p, NULL,
			     "identity groups do not nest: list the identities of @%s here, or name both groups in the rule",
			     json_string_value(e) + 1);
			continue;
		}
		if (one_pattern(c, e, file, p, NULL, &d->pats[d->npats]))
			d->npats++;
	}
	json_decref(list);
}

void pident_collect(struct pctx *c, json_t *idents, const char *file)
{
	const char *name;
	json_t *v;

	if (!json_is_object(idents)) {
		perr(c, file, "identities", NULL,
		     "expected an object of identity groups, got %s", pjson_type(idents));
		return;
	}
	json_object_foreach(idents, name, v)
		collect_one(c, name, v, file);
}

static struct ident_pat *grow(struct pctx *c, struct ipsec_req *req, size_t *cap, size_t n)
{
	if (grow_array(&req->idents, cap, req->nidents + n, sizeof(*req->idents))) {
		c->oom = true;
		return NULL;
	}
	return &req->idents[req->nidents];
}

/* Is an identity with this text already in the rule's list? */
static bool listed(const struct ipsec_req *req, const char *text)
{
	for (size_t i = 0; i < req->nidents; i++)
		if (strcmp(req->idents[i].text, text) == 0)
			return true;
	return false;
}

void pident_parse(struct pctx *c, json_t *v, const char *file, const char *path,
		  const char *rule, struct ipsec_req *req)
{
	json_t *list = as_list(c, v, file, path, rule, "an identity or @identity-group"), *e;
	size_t cap = 0, i;

	if (!list)
		return;
	json_array_foreach(list, i, e) {
		const char *s = json_is_string(e) ? json_string_value(e) : "";
		struct ident_pat *p;
		char q[700], hint[128];

		snprintf(q, sizeof(q), json_is_array(v) ? "%s[%zu]" : "%s", path, i);
		if (s[0] != '@') {
			if (!(p = grow(c, req, &cap, 1)) || !one_pattern(c, e, file, q, rule, p))
				continue;
			if (listed(req, p->text)) {
				perr(c, file, q, rule, "identity \"%s\" is listed twice", p->text);
				ident_pat_fini(p);
				continue;
			}
			req->nidents++;
			continue;
		}
		long g = nindex_find(&c->ident_ix, s + 1);
		const struct identdef *d = g >= 0 ? &c->idents[g] : NULL;

		if (!d) {
			perr(c, file, q, rule, "undefined identity group \"%s\"%s", s + 1,
			     pname_hint(&c->ident_ix, s + 1, hint, sizeof(hint)));
			continue;
		}
		if (!d->npats)
			continue;	/* its patterns were all refused, and reported */
		if (!(p = grow(c, req, &cap, d->npats)))
			break;
		for (size_t k = 0; k < d->npats; k++) {
			if (listed(req, d->pats[k].text))
				continue;	/* a group may overlap another: once is enough */
			if (ident_pat_copy(&req->idents[req->nidents], &d->pats[k]) < 0 ||
			    (!req->idents[req->nidents].group &&
			     !(req->idents[req->nidents].group = strdup(d->name)))) {
				c->oom = true;
				break;
			}
			req->nidents++;
		}
	}
	json_decref(list);
}

void pident_free(struct pctx *c)
{
	nindex_fini(&c->ident_ix);
	for (size_t i = 0; i < c->nidents; i++) {
		for (size_t k = 0; k < c->idents[i].npats; k++)
			ident_pat_fini(&c->idents[i].pats[k]);
		free(c->idents[i].pats);
		free(c->idents[i].path);
	}
	free(c->idents);
}
