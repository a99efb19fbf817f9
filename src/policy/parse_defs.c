#include "config.h"

#include "parse.h"
#include "parse_int.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool valid_def_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 48 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}


static struct hostdef *host_find(struct pctx *c, const char *name)
{
	long i = nindex_find(&c->host_ix, name);

	return i < 0 ? NULL : &c->hosts[i];
}

/* "; did you mean ..." for an undefined name, from the names defined. */
static const char *name_hint(const struct nindex *ix, const char *name, char *buf, size_t len)
{
	struct suggest sg;

	suggest_init(&sg, name);
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slot[i].name)
			suggest_try(&sg, ix->slot[i].name);
	return suggest_text(&sg, buf, len);
}

static struct svcdef *svc_find(struct pctx *c, const char *name)
{
	long i = nindex_find(&c->svc_ix, name);

	return i < 0 ? NULL : &c->svcs[i];
}

static bool def_name_ok(struct pctx *c, const char *kind, const char *name,
			const char *file, const char *path, const char *first_file,
			const char *first_path)
{
	if (!valid_def_name(name)) {
		perr(c, file, path, NULL,
		     "%s name \"%s\" must be 1-48 letters, digits, '_', '.' or '-', starting with a letter or digit",
		     kind, name);
		return false;
	}
	if (first_file) {
		perr(c, file, path, NULL, "%s \"%s\" is already defined at %s: %s",
		     kind, name, first_file, first_path);
		return false;
	}
	return true;
}

static void collect_hosts(struct pctx *c, json_t *hosts, const char *file)
{
	const char *name;
	json_t *v;

	json_object_foreach(hosts, name, v) {
		struct hostdef *dup = host_find(c, name), *h;
		char *path;

		if (asprintf(&path, "hosts.%s", name) < 0) {
			c->oom = true;
			return;
		}
		if (!def_name_ok(c, "host group", name, file, path,
				 dup ? dup->file : NULL, dup ? dup->path : NULL) ||
		    grow_array(&c->hosts, &c->caphosts, c->nhosts + 1,
			       sizeof(*c->hosts))) {
			free(path);
			continue;
		}
		if (nindex_add(&c->host_ix, name, c->nhosts) < 0) {
			c->oom = true;
			free(path);
			return;
		}
		h = &c->hosts[c->nhosts++];
		memset(h, 0, sizeof(*h));
		h->name = name;
		h->value = v;
		h->file = file;
		h->path = path;
	}
}

static void collect_services(struct pctx *c, json_t *svcs, const char *file)
{
	static const char *const svc_keys[] = { "protocol", "ports", "icmp-types", NULL };
	const char *name;
	json_t *v;

	json_object_foreach(svcs, name, v) {
		struct svcdef *dup = svc_find(c, name), *s;
		size_t cap = 0, i;
		json_t *ent;
		char *path;

		if (asprintf(&path, "services.%s", name) < 0) {
			c->oom = true;
			return;
		}
		if (!def_name_ok(c, "service", name, file, path,
				 dup ? dup->file : NULL, dup ? dup->path : NULL) ||
		    grow_array(&c->svcs, &c->capsvcs, c->nsvcs + 1, sizeof(*c->svcs))) {
			free(path);
			continue;
		}
		if (nindex_add(&c->svc_ix, name, c->nsvcs) < 0) {
			c->oom = true;
			free(path);
			return;
		}
		s = &c->svcs[c->nsvcs++];
		memset(s, 0, sizeof(*s));
		s->name = name;
		s->file = file;
		s->path = path;
		if (json_is_object(v))
			v = json_pack("[O]", v);
		else
			json_incref(v);
		if (!json_is_array(v) || json_array_size(v) == 0) {
			perr(c, file, path, NULL,
			     "expected {\"protocol\": ..., \"ports\": ...} or a non-empty array of them");
			json_decref(v);
			continue;
		}
		json_array_foreach(v, i, ent) {
			char p[600];
			struct key_range *k = NULL;
			size_t nk = 0;

			snprintf(p, sizeof(p), json_array_size(v) > 1 ? "%s[%zu]" : "%s",
				 path, i);
			if (!json_is_object(ent)) {
				perr(c, file, p, NULL, "expected an object, got %s",
				     pjson_type(ent));
				continue;
			}
			pcheck_keys(c, ent, svc_keys, file, p, NULL);
			if (!json_object_get(ent, "protocol")) {
				perr(c, file, p, NULL, "a service needs \"protocol\"");
				continue;
			}
			if (!pmatch_keys(c, ent, file, p, NULL, &k, &nk))
				continue;
			if (nk && grow_array(&s->keys, &cap, s->nkeys + nk, sizeof(*k)) == 0) {
				memcpy(s->keys + s->nkeys, k, nk * sizeof(*k));
				s->nkeys += nk;
			} else {
				c->oom = true;
			}
			free(k);
		}
		s->nkeys = key_ranges_normalize(s->keys, s->nkeys);
		json_decref(v);
	}
}

void pdefs_collect(struct pctx *c, json_t *root, const char *file)
{
	json_t *hosts = json_object_get(root, "hosts");
	json_t *svcs = json_object_get(root, "services");

	if (hosts && !json_is_object(hosts))
		perr(c, file, "hosts", NULL,
		     "expected an object of host groups, got %s", pjson_type(hosts));
	else if (hosts)
		collect_hosts(c, hosts, file);
	if (svcs && !json_is_object(svcs))
		perr(c, file, "services", NULL,
		     "expected an object of services, got %s", pjson_type(svcs));
	else if (svcs)
		collect_services(c, svcs, file);
}

void pdefs_free(struct pctx *c)
{
	nindex_fini(&c->host_ix);
	nindex_fini(&c->svc_ix);
	for (size_t i = 0; i < c->nhosts; i++) {
		free(c->hosts[i].path);
		addr_set_fini(&c->hosts[i].set);
	}
	free(c->hosts);
	for (size_t i = 0; i < c->nsvcs; i++) {
		free(c->svcs[i].path);
		free(c->svcs[i].keys);
	}
	free(c->svcs);
}

static bool set_append(struct pctx *c, struct addr_set *s, size_t *cap,
		       const struct addr_range *r, size_t n)
{
	if (n == 0)
		return true;
	if (grow_array(&s->v, cap, s->n + n, sizeof(*r))) {
		c->oom = true;
		return false;
	}
	memcpy(s->v + s->n, r, n * sizeof(*r));
	s->n += n;
	return true;
}

static bool host_resolve(struct pctx *c, struct hostdef *h, const char *file,
			 const char *path, const char *rule);

static bool host_one(struct pctx *c, const char *s, const char *file,
		     const char *path, const char *rule, struct addr_set *set,
		     size_t *cap)
{
	struct addr_range r;
	char net[128];

	if (s[0] == '@') {
		struct hostdef *h = host_find(c, s + 1);

		if (!h) {
			char hint[128];

			perr(c, file, path, rule, "undefined host group \"%s\"%s", s + 1,
			     name_hint(&c->host_ix, s + 1, hint, sizeof(hint)));
			return false;
		}
		return host_resolve(c, h, file, path, rule) &&
		       set_append(c, set, cap, h->set.v, h->set.n);
	}
	switch (addr_parse(s, &r)) {
	case ADDR_OK:
		return set_append(c, set, cap, &r, 1);
	case ADDR_HOST_BITS:
		addr_range_format(&r, net, sizeof(net));
		perr(c, file, path, rule,
		     "\"%s\" has host bits set below the prefix (did you mean %s?)",
		     s, net);
		return false;
	case ADDR_BAD_PREFIX:
		perr(c, file, path, rule,
		     "\"%s\": prefix length must be 0-32 for IPv4, 0-128 for IPv6", s);
		return false;
	case ADDR_RANGE_REVERSED:
		perr(c, file, path, rule,
		     "range \"%s\" is reversed: its first address is above its last", s);
		return false;
	case ADDR_RANGE_MIXED:
		perr(c, file, path, rule,
		     "range \"%s\" mixes IPv4 and IPv6", s);
		return false;
	case ADDR_BAD_SYNTAX:
		break;
	}
	perr(c, file, path, rule,
	     "\"%s\" is not an address, CIDR, address range or @host-group", s);
	return false;
}

bool phosts_parse(struct pctx *c, json_t *v, const char *file, const char *path,
		  const char *rule, struct addr_set *set)
{
	size_t cap = set->n, i;
	bool ok = true;
	json_t *e;

	if (json_is_string(v))
		return host_one(c, json_string_value(v), file, path, rule, set, &cap) &&
		       addr_set_normalize(set) == 0;
	if (!json_is_array(v)) {
		perr(c, file, path, rule,
		     "expected an address, CIDR, range, @group or an array of them, got %s",
		     pjson_type(v));
		return false;
	}
	if (json_array_size(v) == 0) {
		perr(c, file, path, rule,
		     "empty list matches nothing (leave the key out to mean any)");
		return false;
	}
	json_array_foreach(v, i, e) {
		char p[600];

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(e)) {
			perr(c, file, p, rule, "expected a string, got %s", pjson_type(e));
			ok = false;
			continue;
		}
		ok &= host_one(c, json_string_value(e), file, p, rule, set, &cap);
	}
	return ok && addr_set_normalize(set) == 0;
}

/* Report, once, that h referred to from (file, path, rule) makes a chain
 * too deep: the groups being resolved, h and its deepest descendants,
 * "@a -> @b -> ... -> @z" with the first and last four of a longer chain.
 * A chain many times the limit deep would otherwise be reported once per
 * stretch of the limit. */
static void too_deep(struct pctx *c, const struct hostdef *h, const char *file,
		     const char *path, const char *rule)
{
	const struct hostdef *v[2 * PARSE_MAX_GROUP_DEPTH + 1];
	size_t n = 0, used = 0;
	char chain[600] = "";

	if (c->deep_reported)
		return;
	c->deep_reported = true;
	for (size_t i = 0; i < c->ngroups; i++)
		v[n++] = c->groups[i];
	for (; h && n < ARRAY_SIZE(v); h = h->deepest)
		v[n++] = h;
	for (size_t i = 0; i < n && used < sizeof(chain); i++) {
		if (n > 8 && i == 4) {
			used += (size_t)snprintf(chain + used, sizeof(chain) - used,
						 " -> (%zu more)", n - 8);
			i = n - 5;
			continue;
		}
		used += (size_t)snprintf(chain + used, sizeof(chain) - used, "%s@%s",
					 i ? " -> " : "", v[i]->name);
	}
	perr(c, file, path, rule, "host groups nest deeper than %d: %s",
	     PARSE_MAX_GROUP_DEPTH, chain);
}

/* file, path and rule: where h is referred to.  Resolving recurses, one
 * level per nesting: the depth limit bounds the stack.  A group resolved
 * earlier counts with its own depth, so that the limit does not depend on
 * the order the groups are written in. */
static bool host_resolve(struct pctx *c, struct hostdef *h, const char *file,
			 const char *path, const char *rule)
{
	struct hostdef *parent = c->ngroups ? c->groups[c->ngroups - 1] : NULL;
	bool ok;

	switch (h->state) {
	case HOST_DONE:
		break;
	case HOST_FAILED:
		return false;
	case HOST_RESOLVING:
		perr(c, h->file, h->path, NULL,
		     "host group \"%s\" refers back to itself (a cycle through @%s)",
		     h->name, h->name);
		h->state = HOST_FAILED;
		return false;
	case HOST_NEW:
		if (c->ngroups == PARSE_MAX_GROUP_DEPTH) {
			too_deep(c, h, file, path, rule);
			return false;
		}
		c->groups[c->ngroups++] = h;
		h->state = HOST_RESOLVING;
		h->depth = 1;
		ok = phosts_parse(c, h->value, h->file, h->path, NULL, &h->set);
		c->ngroups--;
		if (!ok || h->state != HOST_RESOLVING) {
			h->state = HOST_FAILED;
			return false;
		}
		h->state = HOST_DONE;
		break;
	}
	if (c->ngroups + h->depth > PARSE_MAX_GROUP_DEPTH) {
		too_deep(c, h, file, path, rule);
		return false;
	}
	if (parent && h->depth + 1 > parent->depth) {
		parent->depth = h->depth + 1;
		parent->deepest = h;
	}
	return true;
}

/* A port: an integer, or a string "N" / "LO-HI". */
static bool port_one(struct pctx *c, json_t *v, const char *file, const char *path,
		     const char *rule, unsigned *lo, unsigned *hi)
{
	long long a, b;
	char *end;

	if (json_is_integer(v)) {
		a = b = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (!isdigit((unsigned char)s[0]))
			goto bad;
		a = strtoll(s, &end, 10);
		b = a;
		if (*end == '-' && isdigit((unsigned char)end[1]))
			b = strtoll(end + 1, &end, 10);
		if (*end)
			goto bad;
	} else {
		perr(c, file, path, rule,
		     "expected a port number or a \"low-high\" range, got %s",
		     pjson_type(v));
		return false;
	}
	if (a == 0 || b == 0) {
		perr(c, file, path, rule, "port 0 is not a real port (use 1-65535)");
		return false;
	}
	if (a < 0 || b < 0 || a > 65535 || b > 65535) {
		if (json_is_string(v))
			perr(c, file, path, rule, "port \"%s\" is outside 1-65535",
			     json_string_value(v));
		else
			perr(c, file, path, rule, "port %lld is outside 1-65535", a);
		return false;
	}
	if (a > b) {
		perr(c, file, path, rule,
		     "port range %lld-%lld is reversed (low must come first)", a, b);
		return false;
	}
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return true;
bad:
	perr(c, file, path, rule,
	     "\"%s\" is not a port number or a \"low-high\" range",
	     json_string_value(v));
	return false;
}

/* Protocol list: "tcp", ["tcp", "udp"] or "any". Fills numbers; -1 = any. */
static bool protos_parse(struct pctx *c, json_t *v, const char *file,
			 const char *path, const char *rule, int *out, size_t *n)
{
	json_t *arr = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
	bool ok = true;
	size_t i;
	json_t *e;

	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > 8) {
		perr(c, file, path, rule,
		     "expected a protocol name or an array of 1-8 of them, got %s%s",
		     json_is_array(v) ? (json_array_size(v) ? "too many, " : "an empty ") : "",
		     json_is_array(v) && json_array_size(v) ? "" : pjson_type(v));
		json_decref(arr);
		return false;
	}
	json_array_foreach(arr, i, e) {
		const char *s = json_is_string(e) ? json_string_value(e) : NULL;
		int num = s ? (strcmp(s, "any") == 0 ? -1 : model_proto_number(s)) : -2;

		if (num == -2 || (num == -1 && s && strcmp(s, "any") != 0)) {
			static const char *const names[] = {
				"tcp", "udp", "icmp", "icmpv6", "esp", "ah", "gre", "sctp", "any"
			};
			char p[600], hint[128];
			struct suggest sg;

			suggest_init(&sg, s ? s : "");
			for (size_t k = 0; s && k < ARRAY_SIZE(names); k++)
				suggest_try(&sg, names[k]);
			snprintf(p, sizeof(p), json_is_string(v) ? "%s" : "%s[%zu]",
				 path, i);
			perr(c, file, p, rule,
			     "unknown protocol %s%s%s (expected tcp, udp, icmp, icmpv6, esp, ah, gre, sctp or any)%s",
			     s ? "\"" : "", s ? s : pjson_type(e), s ? "\"" : "",
			     suggest_text(&sg, hint, sizeof(hint)));
			ok = false;
			continue;
		}
		out[(*n)++] = num;
	}
	json_decref(arr);
	return ok;
}

bool pkeys_parse(struct pctx *c, json_t *proto, json_t *ports, const char *file,
		 const char *path, const char *rule, struct key_range **keys,
		 size_t *nkeys)
{
	char ppath[600], tpath[600];
	unsigned plo[256], phi[256];
	size_t np = 0, nports = 0, cap = 0, i;
	int nums[8];
	bool ok = true;
	json_t *e;

	snprintf(ppath, sizeof(ppath), "%s%sprotocol", path, *path ? "." : "");
	snprintf(tpath, sizeof(tpath), "%s%sports", path, *path ? "." : "");
	*keys = NULL;
	*nkeys = 0;
	if (proto && !protos_parse(c, proto, file, ppath, rule, nums, &np))
		return false;
	if (!proto) {
		nums[0] = -1;
		np = 1;
	}
	if (ports) {
		json_t *arr = json_is_array(ports) ? json_incref(ports) :
			      json_pack("[O]", ports);

		if (json_array_size(arr) == 0 || json_array_size(arr) > 256) {
			perr(c, file, tpath, rule, "expected 1-256 ports or port ranges");
			ok = false;
		}
		json_array_foreach(arr, i, e) {
			char p[640];

			if (i >= 256)
				break;
			snprintf(p, sizeof(p), json_is_array(ports) ? "%s[%zu]" : "%s",
				 tpath, i);
			if (port_one(c, e, file, p, rule, &plo[nports], &phi[nports]))
				nports++;
			else
				ok = false;
		}
		json_decref(arr);
		for (i = 0; i < np && ok; i++)
			if (nums[i] != 6 && nums[i] != 17 && nums[i] != 132) {
				perr(c, file, tpath, rule,
				     "ports need protocol tcp, udp or sctp; %s%s%s has no ports",
				     nums[i] < 0 ? "" : "\"",
				     nums[i] < 0 ? (proto ? "\"any\"" : "a rule without \"protocol\"") :
				     model_proto_name((unsigned)nums[i]),
				     nums[i] < 0 ? "" : "\"");
				ok = false;
			}
	}
	if (!ok)
		return false;
	for (i = 0; i < np; i++) {
		size_t need = *nkeys + (nports ? nports : 1);

		if (grow_array(keys, &cap, need, sizeof(**keys))) {
			c->oom = true;
			return false;
		}
		if (nums[i] < 0) {
			(*keys)[(*nkeys)++] = (struct key_range){ 0, KEY_MAX };
		} else if (!nports) {
			(*keys)[(*nkeys)++] = (struct key_range){
				KEY(nums[i], 0), KEY(nums[i], 0xffff) };
		} else {
			for (size_t j = 0; j < nports; j++)
				(*keys)[(*nkeys)++] = (struct key_range){
					KEY(nums[i], plo[j]), KEY(nums[i], phi[j]) };
		}
	}
	*nkeys = key_ranges_normalize(*keys, *nkeys);
	return true;
}

bool psvc_keys(struct pctx *c, json_t *name, const char *file, const char *path,
	       const char *rule, struct key_range **keys, size_t *nkeys, size_t *cap)
{
	struct svcdef *s;

	if (!json_is_string(name)) {
		perr(c, file, path, rule, "expected a service name, got %s",
		     pjson_type(name));
		return false;
	}
	s = svc_find(c, json_string_value(name));
	if (!s) {
		char hint[128];

		perr(c, file, path, rule, "undefined service \"%s\"%s",
		     json_string_value(name),
		     name_hint(&c->svc_ix, json_string_value(name), hint, sizeof(hint)));
		return false;
	}
	if (s->nkeys == 0)
		return true;
	if (grow_array(keys, cap, *nkeys + s->nkeys, sizeof(**keys))) {
		c->oom = true;
		return false;
	}
	memcpy(*keys + *nkeys, s->keys, s->nkeys * sizeof(**keys));
	*nkeys += s->nkeys;
	return true;
}

void pdefs_export(struct pctx *c, struct policy *p)
{
	if (!c->nhosts)
		return;
	if (!(p->groups = calloc(c->nhosts, sizeof(*p->groups)))) {
		c->oom = true;
		return;
	}
	/* c->hosts holds each file's groups together, in the order the
	 * files were finished (includes before their includer) */
	for (size_t f = 0; f < c->nfiles; f++)
		for (size_t i = 0; i < c->nhosts; i++) {
			struct hostdef *h = &c->hosts[i];
			struct host_group *g = &p->groups[p->ngroups];

			if (h->file != c->files[f].display || h->state != HOST_DONE)
				continue;
			if (!(g->name = strdup(h->name))) {
				c->oom = true;
				return;
			}
			g->set = h->set;
			memset(&h->set, 0, sizeof(h->set));
			p->ngroups++;
		}
}

void pdefs_validate(struct pctx *c)
{
	/* groups no rule uses must still be valid: an error there is a typo
	 * that would bite the day a rule starts using the group */
	for (size_t i = 0; i < c->nhosts; i++)
		host_resolve(c, &c->hosts[i], c->hosts[i].file, c->hosts[i].path, NULL);
}
