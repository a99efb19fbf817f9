#include "config.h"

#include "parse.h"
#include "parse_int.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rule_keys[] = {
	"name", "action", "direction", "peers", "local", "from", "to", "protocol",
	"ports", "icmp-types", "services", "ipsec", "log", "limit", "interfaces", "comment",
	"accept-findings", NULL
};
static const char *const ipsec_keys[] = {
	"encryption", "algorithms", "mode", "gateways", "reqid", NULL
};
static const char *const gateway_keys[] = { "gateway", "inner", NULL };

#define RULE_NAME_MAX 48

static bool valid_rule_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RULE_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* Match one string against a table of names; -1 when absent, -2 on error. */
static int pick(struct pctx *c, json_t *obj, const char *key,
		const char *const *names, const char *file, const char *rpath,
		const char *rule)
{
	json_t *v = json_object_get(obj, key);
	char path[600], list[256] = "", hint[128];
	struct suggest sg;
	size_t used = 0;

	if (!v)
		return -1;
	if (json_is_string(v))
		for (int i = 0; names[i]; i++)
			if (strcmp(json_string_value(v), names[i]) == 0)
				return i;
	suggest_init(&sg, json_is_string(v) ? json_string_value(v) : "");
	for (int i = 0; names[i]; i++) {
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
					 i == 0 ? "" : names[i + 1] ? ", " : " or ",
					 names[i]);
		suggest_try(&sg, names[i]);
	}
	snprintf(path, sizeof(path), "%s.%s", rpath, key);
	if (json_is_string(v))
		perr(c, file, path, rule, "unknown %s \"%s\" (expected %s)%s", key,
		     json_string_value(v), list, suggest_text(&sg, hint, sizeof(hint)));
	else
		perr(c, file, path, rule, "expected %s, got %s", list, pjson_type(v));
	return -2;
}

static bool parse_gateways(struct pctx *c, json_t *v, const char *file,
			   const char *path, const char *rule, struct ipsec_req *req)
{
	size_t i;
	json_t *g;
	bool ok = true;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		perr(c, file, path, rule,
		     "expected a non-empty array of {\"gateway\": ..., \"inner\": [...]}");
		return false;
	}
	req->gateways = calloc(json_array_size(v), sizeof(*req->gateways));
	if (!req->gateways) {
		c->oom = true;
		return false;
	}
	json_array_foreach(v, i, g) {
		struct ipsec_gateway *gw = &req->gateways[req->ngateways++];
		char p[640], q[660];

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_object(g)) {
			perr(c, file, p, rule, "expected an object, got %s", pjson_type(g));
			ok = false;
			continue;
		}
		pcheck_keys(c, g, gateway_keys, file, p, rule);
		snprintf(q, sizeof(q), "%s.gateway", p);
		if (!json_object_get(g, "gateway")) {
			perr(c, file, q, rule, "missing \"gateway\" (the tunnel's outer peer)");
			ok = false;
		} else {
			ok &= phosts_parse(c, json_object_get(g, "gateway"), file, q,
					   rule, &gw->gateway);
		}
		snprintf(q, sizeof(q), "%s.inner", p);
		if (!json_object_get(g, "inner")) {
			perr(c, file, q, rule,
			     "missing \"inner\" (the addresses this gateway may vouch for)");
			ok = false;
		} else {
			ok &= phosts_parse(c, json_object_get(g, "inner"), file, q, rule,
					   &gw->inner);
		}
	}
	return ok;
}

static bool parse_algorithms(struct pctx *c, json_t *v, const char *file,
			     const char *path, const char *rule, uint32_t *mask)
{
	size_t i;
	json_t *e;
	bool ok = true;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		perr(c, file, path, rule, "expected a non-empty array of algorithm names");
		return false;
	}
	*mask = 0;
	json_array_foreach(v, i, e) {
		uint32_t bit = json_is_string(e) ?
			       model_alg_from_name(json_string_value(e)) : 0;
		char p[640];

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(e)) {
			perr(c, file, p, rule, "expected an algorithm name, got %s",
			     pjson_type(e));
			ok = false;
		} else if (!bit) {
			struct suggest sg;
			char hint[128];

			suggest_init(&sg, json_string_value(e));
			for (unsigned b = 0; b < ALG_COUNT_BITS; b++)
				suggest_try(&sg, model_alg_name(1u << b));
			perr(c, file, p, rule,
			     "unknown algorithm \"%s\" (expected aes128gcm16, aes192gcm16, aes256gcm16, chacha20poly1305, aes128, aes192, aes256, aes128ctr, aes256ctr, sha1, sha256, sha384, sha512 or null)%s",
			     json_string_value(e), suggest_text(&sg, hint, sizeof(hint)));
			ok = false;
		}
		*mask |= bit;
	}
	return ok;
}

#define ALG_ENCRYPTING (ALG_AES128GCM16 | ALG_AES192GCM16 | ALG_AES256GCM16 | \
	ALG_CHACHA20POLY1305 | ALG_AES128 | ALG_AES192 | ALG_AES256 | \
	ALG_AES128CTR | ALG_AES256CTR)

static void check_ipsec_consistency(struct pctx *c, const struct ipsec_req *req,
				    const char *file, const char *path,
				    const char *rule)
{
	char p[640];

	snprintf(p, sizeof(p), "%s.algorithms", path);
	if (req->encryption == ENC_REQUIRED && (req->algorithms & ALG_NULL))
		perr(c, file, p, rule,
		     "\"null\" (ESP without encryption) contradicts encryption \"required\"");
	else if (req->encryption == ENC_REQUIRED && !(req->algorithms & ALG_ENCRYPTING))
		perr(c, file, p, rule,
		     "no encryption algorithm listed, but encryption is \"required\"");
	snprintf(p, sizeof(p), "%s.gateways", path);
	if (req->mode == MODE_TRANSPORT && req->ngateways)
		perr(c, file, p, rule,
		     "gateways vouch for tunnel-mode SAs; mode \"transport\" cannot use them");
	if (req->mode == MODE_TUNNEL && !req->ngateways)
		perr(c, file, p, rule,
		     "mode \"tunnel\" needs at least one gateway (who may vouch for whom)");
}

static bool parse_ipsec(struct pctx *c, json_t *v, const char *file,
			const char *rpath, const char *rule, struct ipsec_req *req)
{
	static const char *const enc[] = { "required", "integrity-only-allowed", NULL };
	static const char *const modes[] = { "any", "transport", "tunnel", NULL };
	char path[600], p[640];
	size_t errs = c->diags->errors;
	json_t *x;
	int i;

	req->encryption = ENC_REQUIRED;
	req->algorithms = ALG_DEFAULT_SET;
	req->mode = MODE_ANY;
	if (!v)
		return true;
	snprintf(path, sizeof(path), "%s.ipsec", rpath);
	if (!json_is_object(v)) {
		perr(c, file, path, rule, "expected an object, got %s", pjson_type(v));
		return false;
	}
	pcheck_keys(c, v, ipsec_keys, file, path, rule);
	if ((i = pick(c, v, "encryption", enc, file, path, rule)) >= 0)
		req->encryption = i ? ENC_INTEGRITY_OK : ENC_REQUIRED;
	if ((i = pick(c, v, "mode", modes, file, path, rule)) >= 0)
		req->mode = (enum ipsec_mode)i;
	snprintf(p, sizeof(p), "%s.algorithms", path);
	if ((x = json_object_get(v, "algorithms")))
		parse_algorithms(c, x, file, p, rule, &req->algorithms);
	else if (req->encryption == ENC_INTEGRITY_OK)
		req->algorithms |= ALG_NULL;	/* else integrity-only could never pass */
	snprintf(p, sizeof(p), "%s.gateways", path);
	if ((x = json_object_get(v, "gateways")))
		parse_gateways(c, x, file, p, rule, req);
	snprintf(p, sizeof(p), "%s.reqid", path);
	if ((x = json_object_get(v, "reqid"))) {
		json_int_t n = json_is_integer(x) ? json_integer_value(x) : 0;

		if (!json_is_integer(x))
			perr(c, file, p, rule, "expected an integer 1-4294967295, got %s",
			     pjson_type(x));
		else if (n < 1 || n > (json_int_t)UINT32_MAX)
			perr(c, file, p, rule, "reqid %lld is outside 1-4294967295",
			     (long long)n);
		req->has_reqid = true;
		req->reqid = (uint32_t)n;
	}
	if (c->diags->errors == errs)
		check_ipsec_consistency(c, req, file, path, rule);
	return c->diags->errors == errs;
}

static void parse_match(struct pctx *c, json_t *o, const char *file,
			const char *path, const char *rule, struct rule *r)
{
	json_t *svcs = json_object_get(o, "services");
	json_t *proto = json_object_get(o, "protocol");
	json_t *ports = json_object_get(o, "ports");
	char p[640];

	if (svcs && (proto || ports || json_object_get(o, "icmp-types"))) {
		snprintf(p, sizeof(p), "%s.services", path);
		perr(c, file, p, rule, proto || ports ?
		     "use either \"services\" or \"protocol\"/\"ports\", not both" :
		     "use either \"services\" or \"protocol\"/\"icmp-types\", not both");
		return;
	}
	if (svcs) {
		size_t cap = 0, i;
		json_t *arr = json_is_array(svcs) ? json_incref(svcs) :
			      json_pack("[O]", svcs), *e;

		snprintf(p, sizeof(p), "%s.services", path);
		if (json_array_size(arr) == 0)
			perr(c, file, p, rule, "empty list of services matches nothing");
		json_array_foreach(arr, i, e) {
			char q[660];

			snprintf(q, sizeof(q), json_is_array(svcs) ? "%s[%zu]" : "%s", p, i);
			psvc_keys(c, e, file, q, rule, &r->keys, &r->nkeys, &cap);
		}
		json_decref(arr);
		r->nkeys = key_ranges_normalize(r->keys, r->nkeys);
		return;
	}
	pmatch_keys(c, o, file, path, rule, &r->keys, &r->nkeys);
}

static void any_set(struct addr_set *s)
{
	s->v = calloc(2, sizeof(*s->v));
	if (!s->v)
		return;
	s->v[0] = (struct addr_range){ AF4, 0, addr_max(AF4) };
	s->v[1] = (struct addr_range){ AF6, 0, addr_max(AF6) };
	s->n = 2;
	s->any = true;
}

static bool set_has_family(const struct addr_set *s, enum addr_family f)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fam == f)
			return true;
	return false;
}

static void parse_hosts_key(struct pctx *c, json_t *o, const char *key,
			    const char *file, const char *path, const char *rule,
			    struct addr_set *set)
{
	json_t *v = json_object_get(o, key);
	char p[640];

	if (!v) {
		any_set(set);
		if (!set->v)
			c->oom = true;
		return;
	}
	snprintf(p, sizeof(p), "%s.%s", path, key);
	phosts_parse(c, v, file, p, rule, set);
}

/* A forward rule's sides are "from" and "to"; an in / out rule's are
 * "peers" and "local".  The other pair is refused by name. */
static void sides_misnamed(struct pctx *c, json_t *o, const char *file,
			   const char *path, const char *rule, enum direction dir)
{
	static const char *const wrong[2][2] = { { "from", "to" }, { "peers", "local" } };
	bool fwd = dir == DIR_FWD;
	char q[640];

	for (int i = 0; i < 2; i++) {
		if (!json_object_get(o, wrong[fwd][i]))
			continue;
		snprintf(q, sizeof(q), "%s.%s", path, wrong[fwd][i]);
		if (fwd)
			perr(c, file, q, rule,
			     "a forward rule names its sides \"from\" (the sources that start the flow) and \"to\" (its destinations, routed through this host), not \"%s\"",
			     wrong[fwd][i]);
		else
			perr(c, file, q, rule,
			     "\"%s\" is a side of a forward rule (\"direction\": \"forward\"); an %s rule names \"peers\" and \"local\"",
			     wrong[fwd][i], direction_name(dir));
	}
}

static void parse_flags(struct pctx *c, json_t *o, const char *file,
			const char *path, const char *rule, struct rule *r)
{
	json_t *log = json_object_get(o, "log"), *cm = json_object_get(o, "comment");
	char p[640];

	if (log && !json_is_boolean(log)) {
		snprintf(p, sizeof(p), "%s.log", path);
		perr(c, file, p, rule, "expected true or false, got %s", pjson_type(log));
	}
	r->log = log && json_is_true(log);
	if (cm && !json_is_string(cm)) {
		snprintf(p, sizeof(p), "%s.comment", path);
		perr(c, file, p, rule, "expected a string, got %s", pjson_type(cm));
	} else if (cm && !(r->comment = strdup(json_string_value(cm)))) {
		c->oom = true;
	}
}

/* "accept-findings": the kinds of finding about this rule its author has
 * seen and accepts; each a rule-level kind, once. */
static void parse_accepted(struct pctx *c, json_t *v, const char *file,
			   const char *path, const char *rule, struct rule *r)
{
	char p[640], hint[128];
	size_t i;
	json_t *e;

	snprintf(p, sizeof(p), "%s.accept-findings", path);
	if (!json_is_array(v) || json_array_size(v) == 0) {
		perr(c, file, p, rule, "expected a non-empty array of finding kinds, got %s",
		     json_is_array(v) ? "an empty array" : pjson_type(v));
		return;
	}
	json_array_foreach(v, i, e) {
		const char *s = json_is_string(e) ? json_string_value(e) : NULL;
		int k = s ? model_finding_from_name(s) : -1;
		struct suggest sg;

		snprintf(p, sizeof(p), "%s.accept-findings[%zu]", path, i);
		if (!s) {
			perr(c, file, p, rule, "expected the name of a kind of finding, got %s",
			     pjson_type(e));
			continue;
		}
		if (k < 0 || k == FIND_KERNEL_ONLY) {
			suggest_init(&sg, s);
			for (int j = 0; j < FIND_KIND_COUNT; j++)
				if (j != FIND_KERNEL_ONLY)
					suggest_try(&sg, model_finding_name(j));
			perr(c, file, p, rule,
			     "%s \"%s\" (expected shadowed, contradiction, redundant, icmp-family, ipsec-options-unchecked, ipsec-unreachable or cleartext-wide)%s",
			     k < 0 ? "unknown kind of finding" : "not a finding about one rule:",
			     s, suggest_text(&sg, hint, sizeof(hint)));
			continue;
		}
		if (r->accepted & (1u << k))
			perr(c, file, p, rule, "\"%s\" is listed twice", s);
		r->accepted |= 1u << k;
	}
}

/* The earlier rule with this name, or NULL after remembering rule idx.
 * The name is the JSON string, alive for the whole parse. */
static const struct rule *name_seen(struct pctx *c, struct nindex *ix,
				    const struct policy *p, const char *name, size_t idx)
{
	long first = nindex_find(ix, name);

	if (first >= 0)
		return &p->rules[first];
	if (nindex_add(ix, name, idx) < 0)
		c->oom = true;
	return NULL;
}

/* Returns the rule name for messages (NULL when missing or invalid). */
static const char *parse_name(struct pctx *c, json_t *o, const char *file,
			      const char *path, struct policy *p,
			      struct nindex *ix)
{
	json_t *v = json_object_get(o, "name");
	const struct rule *first;
	const char *name;
	char q[640];

	snprintf(q, sizeof(q), "%s.name", path);
	if (!v) {
		perr(c, file, q, NULL, "missing \"name\" (every rule needs a unique name)");
		return NULL;
	}
	if (!json_is_string(v)) {
		perr(c, file, q, NULL, "expected a string, got %s", pjson_type(v));
		return NULL;
	}
	name = json_string_value(v);
	if (!valid_rule_name(name)) {
		perr(c, file, q, NULL,
		     "rule name \"%s\" must be 1-%d letters, digits, '_', '.' or '-', starting with a letter or digit",
		     name, RULE_NAME_MAX);
		return NULL;
	}
	first = name_seen(c, ix, p, name, p->nrules);
	if (first)
		perr(c, file, q, name, "duplicate rule name; first used at %s", first->path);
	return name;
}

static void parse_rule(struct pctx *c, json_t *o, const char *file,
		       const char *path, struct policy *p, struct rule *r,
		       struct nindex *ix)
{
	static const char *const actions[] = { "permit", "block", "require-ipsec", NULL };
	static const char *const dirs[] = { "in", "out", "forward", NULL };
	const char *name;

	/* the rule being parsed is looked up by index: name it first */
	name = parse_name(c, o, file, path, p, ix);
	int i;

	r->name = strdup(name ? name : "");
	r->file = strdup(file);
	r->path = strdup(path);
	if (!r->name || !r->file || !r->path)
		c->oom = true;
	pcheck_keys(c, o, rule_keys, file, path, name);
	i = pick(c, o, "action", actions, file, path, name);
	if (i == -1) {
		char q[640];

		snprintf(q, sizeof(q), "%s.action", path);
		perr(c, file, q, name,
		     "missing \"action\" (expected \"permit\", \"block\" or \"require-ipsec\")");
	}
	r->action = i >= 0 ? (enum action)i : ACT_BLOCK;
	i = pick(c, o, "direction", dirs, file, path, name);
	r->dir = i > 0 ? (enum direction)i : DIR_IN;
	sides_misnamed(c, o, file, path, name, r->dir);
	parse_hosts_key(c, o, r->dir == DIR_FWD ? "from" : "peers", file, path, name, &r->peers);
	parse_hosts_key(c, o, r->dir == DIR_FWD ? "to" : "local", file, path, name, &r->local);
	parse_match(c, o, file, path, name, r);
	if (json_object_get(o, "ipsec") && r->action != ACT_REQUIRE_IPSEC) {
		char q[640];

		snprintf(q, sizeof(q), "%s.ipsec", path);
		perr(c, file, q, name,
		     "\"ipsec\" options only apply to action \"require-ipsec\"");
	} else {
		parse_ipsec(c, json_object_get(o, "ipsec"), file, path, name, &r->ipsec);
	}
	parse_flags(c, o, file, path, name, r);
	plimit_parse(c, o, file, path, name, r);
	piface_parse(c, o, file, path, name, r);
	if (json_object_get(o, "accept-findings"))
		parse_accepted(c, json_object_get(o, "accept-findings"), file, path, name, r);
	if (r->peers.n && r->local.n &&
	    !(set_has_family(&r->peers, AF4) && set_has_family(&r->local, AF4)) &&
	    !(set_has_family(&r->peers, AF6) && set_has_family(&r->local, AF6)))
		perr(c, file, path, name, r->dir == DIR_FWD ?
		     "\"from\" and \"to\" share no address family: the rule can never match" :
		     "\"peers\" and \"local\" share no address family: the rule can never match");
	if (r->dir == DIR_FWD && r->action == ACT_REQUIRE_IPSEC && r->ipsec.mode == MODE_TRANSPORT) {
		char q[640];

		snprintf(q, sizeof(q), "%s.ipsec.mode", path);
		perr(c, file, q, name,
		     "a forwarded flow is not addressed to this host, so no transport-mode SA ending here carries it; use mode \"tunnel\" with the gateways that may vouch for its sources");
	}
}

void prules_parse(struct pctx *c, json_t *rules, const char *file, struct policy *p)
{
	size_t n = json_array_size(rules), i;
	struct nindex ix = { 0 };
	json_t *o;

	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	if (!p->rules) {
		c->oom = true;
		return;
	}
	json_array_foreach(rules, i, o) {
		char path[64];

		snprintf(path, sizeof(path), "rules[%zu]", i);
		if (!json_is_object(o)) {
			perr(c, file, path, NULL, "expected a rule object, got %s",
			     pjson_type(o));
			continue;
		}
		parse_rule(c, o, file, path, p, &p->rules[p->nrules], &ix);
		p->nrules++;
	}
	nindex_fini(&ix);
}
