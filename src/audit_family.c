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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILY_MAX_DEPTH PARSE_MAX_INCLUDE_DEPTH

/* Merge the "hosts" of path and its includes into groups (name -> array). */
static void read_hosts(const char *path, json_t *groups, int depth)
{
	json_t *root = json_load_file(path, 0, NULL), *inc, *v;
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
			read_hosts(target, groups, depth + 1);
		free(target);
	}
	free(copy);
	json_decref(root);
}

static void resolve(json_t *groups, const char *name, struct addr_set *s, size_t *cap,
		    int depth);

static void resolve_one(json_t *groups, const char *str, struct addr_set *s, size_t *cap,
			int depth)
{
	struct addr_range r;

	if (!str)
		return;
	if (str[0] == '@')
		resolve(groups, str + 1, s, cap, depth + 1);
	else if (addr_parse(str, &r) == ADDR_OK && grow_array(&s->v, cap, s->n + 1, sizeof(r)) == 0)
		s->v[s->n++] = r;
}

/* The addresses of group name (nested "@groups" followed), appended to s. */
static void resolve(json_t *groups, const char *name, struct addr_set *s, size_t *cap,
		    int depth)
{
	json_t *v = json_object_get(groups, name), *e;
	size_t i;

	if (depth >= FAMILY_MAX_DEPTH)
		return;
	if (json_is_string(v))	/* a group of one */
		resolve_one(groups, json_string_value(v), s, cap, depth);
	json_array_foreach(v, i, e)
		resolve_one(groups, json_string_value(e), s, cap, depth);
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

static void check_rule(const struct rule *r, json_t *groups, struct audit_list *out)
{
	enum addr_family has = family_count(&r->peers, AF4) ? AF4 : AF6;
	const char *best = NULL, *name;
	size_t best_n = 0, other_n = 0;
	json_t *v;
	char other[128] = "";

	if (r->peers.any || !r->peers.n || family_count(&r->peers, has) != r->peers.n ||
	    icmp_only(r))
		return;
	json_object_foreach(groups, name, v) {
		struct addr_set g = { NULL, 0, false };
		size_t cap = 0;

		resolve(groups, name, &g, &cap, 0);
		if (addr_set_normalize(&g) < 0) {
			out->oom = true;
			free(g.v);
			return;
		}
		if (family_count(&g, !has) && inside(&r->peers, &g, has) &&
		    (!best || family_count(&g, has) < best_n)) {
			best = name;
			best_n = family_count(&g, has);
			other_n = family_count(&g, !has);
			for (size_t i = 0; i < g.n; i++)
				if (g.v[i].fam != has) {
					addr_range_format(&g.v[i], other, sizeof(other));
					break;
				}
		}
		free(g.v);
	}
	if (best)
		audit_add(out, AUDIT_WARNING, "family-counterpart", r->name, NULL,
			  "%s: names only the %s addresses of host group \"%s\", which also has %s ones (%s%s): their %s traffic falls to a later rule or the default",
			  r->path, has == AF4 ? "IPv4" : "IPv6", best, has == AF4 ? "IPv6" : "IPv4",
			  other, other_n > 1 ? ", ..." : "", has == AF4 ? "IPv6" : "IPv4");
}

void audit_families(const struct policy *p, const char *source, struct audit_list *out)
{
	json_t *groups = json_object();

	if (!groups || !source) {
		json_decref(groups);
		return;
	}
	read_hosts(source, groups, 0);
	for (size_t i = 0; json_object_size(groups) && i < p->nrules; i++)
		check_rule(&p->rules[i], groups, out);
	json_decref(groups);
}
