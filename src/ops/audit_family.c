/* Rules that name only one family's addresses of a host group that has
 * both: the other family's traffic of those hosts falls to a later rule
 * or the default.  The model keeps no group names (they are expanded at
 * parse time), so the groups are read here from the policy's source
 * files: "hosts" of the file and of everything it includes. */
#include "config.h"

#include "audit.h"
#include "parse.h"
#include "util.h"

#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILY_MAX_DEPTH PARSE_MAX_INCLUDE_DEPTH

/* Merge the "hosts" of path and its includes into groups (name -> array).
 * Each file is read once (files: real paths read), as the parser reads
 * it: files that include each other 8 times over 15 levels are 8^15
 * reads otherwise. */
static void read_hosts(const char *path, json_t *groups, json_t *files, int depth)
{
	char real[PATH_MAX];
	bool again = !realpath(path, real) || json_object_get(files, real) ||
		     json_object_set_new(files, real, json_true()) < 0;
	json_t *root = again ? NULL : json_load_file(path, 0, NULL), *inc, *v;
	const char *name;
	char *copy, *dir;
	size_t i;

	if (!root || depth >= FAMILY_MAX_DEPTH) {
		json_decref(root);
		return;
	}
	json_object_foreach(json_object_get(root, "hosts"), name, v)
		json_object_set(groups, name, v);
	inc = json_object_get(root, "include");
	copy = strdup(path);
	dir = copy ? dirname(copy) : NULL;
	json_array_foreach(inc, i, v) {
		char *target = NULL;
		const char *f = json_string_value(v);

		if (!f || !dir)
			continue;
		if (f[0] == '/' ? !!(target = strdup(f)) : asprintf(&target, "%s/%s", dir, f) >= 0)
			read_hosts(target, groups, files, depth + 1);
		free(target);
	}
	free(copy);
	json_decref(root);
}

static void resolve(json_t *groups, json_t *seen, const char *name, struct addr_set *s,
		    size_t *cap, int depth);

static void resolve_one(json_t *groups, json_t *seen, const char *str, struct addr_set *s,
			size_t *cap, int depth)
{
	struct addr_range r;

	if (!str)
		return;
	if (str[0] == '@')
		resolve(groups, seen, str + 1, s, cap, depth + 1);
	else if (addr_parse(str, &r) == ADDR_OK && grow_array(&s->v, cap, s->n + 1, sizeof(r)) == 0)
		s->v[s->n++] = r;
}

/* The addresses of group name (nested "@groups" followed), appended to s.
 * A group seen before adds nothing (s is merged at the end): groups that
 * hold each other 8 times over 15 levels are 8^15 visits otherwise. */
static void resolve(json_t *groups, json_t *seen, const char *name, struct addr_set *s,
		    size_t *cap, int depth)
{
	json_t *v = json_object_get(groups, name), *e;
	size_t i;

	if (depth >= PARSE_MAX_GROUP_DEPTH || json_object_get(seen, name) ||
	    json_object_set_new(seen, name, json_true()) < 0)
		return;
	if (json_is_string(v))	/* a group of one */
		resolve_one(groups, seen, json_string_value(v), s, cap, depth);
	json_array_foreach(v, i, e)
		resolve_one(groups, seen, json_string_value(e), s, cap, depth);
}

static size_t family_count(const struct addr_set *s, enum addr_family f)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].fam == f;
	return n;
}

/* Are all of the rule's intervals of family f inside the group? */
static bool inside(const struct addr_set *rule, const struct addr_set *grp, enum addr_family f)
{
	for (size_t j = 0; j < rule->n; j++) {
		bool in = false;

		if (rule->v[j].fam != f)
			continue;
		for (size_t i = 0; i < grp->n && !in; i++)
			in = grp->v[i].fam == f && grp->v[i].lo <= rule->v[j].lo &&
			     rule->v[j].hi <= grp->v[i].hi;
		if (!in)
			return false;
	}
	return true;
}

/* Rules of only ICMP (a family's own protocol) are exempt. */
static bool icmp_only(const struct rule *r)
{
	for (size_t i = 0; i < r->nkeys; i++)
		if (KEY_PROTO(r->keys[i].lo) != KEY_PROTO(r->keys[i].hi) ||
		    (KEY_PROTO(r->keys[i].lo) != 1 && KEY_PROTO(r->keys[i].lo) != 58))
			return false;
	return r->nkeys > 0;
}

/* A host group with its addresses resolved and merged. */
struct group {
	const char *name;
	struct addr_set set;
};

static void check_rule(const struct rule *r, const struct group *g, size_t ng,
		       struct audit_list *out)
{
	enum addr_family has = family_count(&r->peers, AF4) ? AF4 : AF6;
	const struct group *best = NULL;
	char other[128] = "";
	size_t other_n = 0;

	if (r->peers.any || !r->peers.n || family_count(&r->peers, has) != r->peers.n ||
	    icmp_only(r))
		return;
	for (size_t i = 0; i < ng; i++)
		if (family_count(&g[i].set, !has) && inside(&r->peers, &g[i].set, has) &&
		    (!best || family_count(&g[i].set, has) < family_count(&best->set, has)))
			best = &g[i];
	if (!best)
		return;
	other_n = family_count(&best->set, !has);
	for (size_t i = 0; i < best->set.n && !*other; i++)
		if (best->set.v[i].fam != has)
			addr_range_format(&best->set.v[i], other, sizeof(other));
	audit_add(out, AUDIT_WARNING, "family-counterpart", r->name, NULL,
		  "%s: names only the %s addresses of host group \"%s\", which also has %s ones (%s%s): their %s traffic falls to a later rule or the default",
		  r->path, has == AF4 ? "IPv4" : "IPv6", best->name, has == AF4 ? "IPv6" : "IPv4",
		  other, other_n > 1 ? ", ..." : "", has == AF4 ? "IPv6" : "IPv4");
}

/* Every group that has both families, resolved once. */
static struct group *mixed_groups(json_t *groups, size_t *n, bool *oom)
{
	struct group *v = calloc(json_object_size(groups) + 1, sizeof(*v));
	json_t *x, *seen = json_object();
	const char *name;

	*n = 0;
	if (!v || !seen) {
		*oom = true;
		json_decref(seen);
		free(v);
		return NULL;
	}
	json_object_foreach(groups, name, x) {
		struct group *g = &v[*n];
		size_t cap = 0;

		g->name = name;
		json_object_clear(seen);
		resolve(groups, seen, name, &g->set, &cap, 0);
		if (addr_set_normalize(&g->set) < 0)
			*oom = true;
		if (family_count(&g->set, AF4) && family_count(&g->set, AF6))
			(*n)++;
		else
			free(g->set.v), g->set.v = NULL, g->set.n = 0;
	}
	json_decref(seen);
	return v;
}

void audit_families(const struct policy *p, const char *source, struct audit_list *out)
{
	json_t *groups = json_object(), *files = json_object();
	struct group *g = NULL;
	size_t ng = 0;

	if (groups && files && source)
		read_hosts(source, groups, files, 0);
	if (groups && json_object_size(groups))
		g = mixed_groups(groups, &ng, &out->oom);
	for (size_t i = 0; ng && i < p->nrules; i++)
		check_rule(&p->rules[i], g, ng, out);
	for (size_t i = 0; g && i < ng; i++)
		free(g[i].set.v);
	free(g);
	json_decref(groups);
	json_decref(files);
}
