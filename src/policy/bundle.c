#include "config.h"

#include "bundle.h"
#include "icmp.h"

#include <stdio.h>

static json_t *addrs_json(const struct addr_set *s)
{
	json_t *a = json_array();
	char buf[128];

	for (size_t i = 0; i < s->n; i++) {
		addr_range_format(&s->v[i], buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

/* Key ranges as service entries: one per protocol. */
static json_t *keys_json(const struct key_range *k, size_t n)
{
	json_t *entries = json_array();

	for (size_t i = 0; i < n; i++) {
		for (unsigned p = KEY_PROTO(k[i].lo); p <= KEY_PROTO(k[i].hi); p++) {
			unsigned lo = p == KEY_PROTO(k[i].lo) ? KEY_PORT(k[i].lo) : 0;
			unsigned hi = p == KEY_PROTO(k[i].hi) ? KEY_PORT(k[i].hi) : 0xffff;
			const char *name = model_proto_name(p);
			json_t *e;
			char range[16];

			if (!name)
				continue;	/* only reachable through "any", handled by the caller */
			e = json_pack("{s:s}", "protocol", name);
			if (icmp_is_icmp(p) && (lo != 0 || hi != 0xffff)) {
				json_t *types = json_array();

				/* a rule's types, as numbers; keys past 255 match nothing */
				for (unsigned t = lo; t <= hi && t <= ICMP_TYPE_MAX; t++)
					json_array_append_new(types, json_integer(t));
				json_object_set_new(e, "icmp-types", types);
			} else if (lo != 0 || hi != 0xffff) {
				snprintf(range, sizeof(range), "%u-%u", lo, hi);
				json_object_set_new(e, "ports", json_pack("[s]", range));
			}
			json_array_append_new(entries, e);
		}
	}
	return entries;
}

static json_t *ipsec_json(const struct ipsec_req *q)
{
	json_t *o = json_object(), *algs = json_array();

	json_object_set_new(o, "encryption", json_string(q->encryption == ENC_REQUIRED ?
							 "required" : "integrity-only-allowed"));
	for (unsigned b = 0; b < ALG_COUNT_BITS; b++)
		if (q->algorithms & (1u << b))
			json_array_append_new(algs, json_string(model_alg_name(1u << b)));
	json_object_set_new(o, "algorithms", algs);
	json_object_set_new(o, "mode", json_string(mode_name(q->mode)));
	if (q->ngateways) {
		json_t *gws = json_array();

		for (size_t i = 0; i < q->ngateways; i++)
			json_array_append_new(gws, json_pack("{s:o, s:o}",
				"gateway", addrs_json(&q->gateways[i].gateway),
				"inner", addrs_json(&q->gateways[i].inner)));
		json_object_set_new(o, "gateways", gws);
	}
	if (q->has_reqid)
		json_object_set_new(o, "reqid", json_integer(q->reqid));
	return o;
}

static json_t *limit_json(const struct rule_limit *l)
{
	char rate[48];

	snprintf(rate, sizeof(rate), "%u/%s", l->rate, l->unit == 1 ? "second" :
		 l->unit == 60 ? "minute" : l->unit == 3600 ? "hour" : "day");
	return json_pack("{s:s, s:i, s:s}", "rate", rate, "burst", (json_int_t)l->burst,
			 "per", "source");
}

static bool keys_are_any(const struct rule *r)
{
	return r->nkeys == 1 && r->keys[0].lo == 0 && r->keys[0].hi == KEY_MAX;
}

/* Every host group, used or not, in the policy's order: rules hold
 * addresses, so only the readers of group names (audit) need them. */
static json_t *hosts_json(const struct policy *p)
{
	json_t *hosts = json_object();

	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i].set.n)	/* never empty, but "[]" would not parse */
			json_object_set_new(hosts, p->groups[i].name, addrs_json(&p->groups[i].set));
	return hosts;
}

json_t *bundle_from_policy(const struct policy *p)
{
	json_t *rules = json_array(), *services = json_object();
	json_t *root;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", r->name,
				      "action", action_name(r->action),
				      "direction", direction_name(r->dir));

		if (!r->peers.any)
			json_object_set_new(o, r->dir == DIR_FWD ? "from" : "peers",
					    addrs_json(&r->peers));
		if (!r->local.any)
			json_object_set_new(o, r->dir == DIR_FWD ? "to" : "local",
					    addrs_json(&r->local));
		if (!keys_are_any(r)) {
			/* a rule's keys may mix protocols and ports freely: keep
			 * them as a service of its own */
			json_object_set_new(services, r->name, keys_json(r->keys, r->nkeys));
			json_object_set_new(o, "services", json_string(r->name));
		}
		if (r->action == ACT_REQUIRE_IPSEC)
			json_object_set_new(o, "ipsec", ipsec_json(&r->ipsec));
		if (r->log)
			json_object_set_new(o, "log", json_true());
		if (r->limit.rate)
			json_object_set_new(o, "limit", limit_json(&r->limit));
		if (r->nifaces) {
			json_t *ifs = json_array();

			for (size_t k = 0; k < r->nifaces; k++)
				json_array_append_new(ifs, json_string(r->ifaces[k]));
			json_object_set_new(o, "interfaces", ifs);
		}
		if (r->comment)
			json_object_set_new(o, "comment", json_string(r->comment));
		if (r->accepted) {
			json_t *acc = json_array();

			for (int k = 0; k < FIND_KIND_COUNT; k++)
				if (r->accepted & (1u << k))
					json_array_append_new(acc, json_string(model_finding_name(k)));
			json_object_set_new(o, "accept-findings", acc);
		}
		json_array_append_new(rules, o);
	}
	root = json_pack("{s:i, s:s, s:{s:s, s:s}, s:o, s:o, s:o}", "version", 1,
			 "description", p->description ? p->description : "",
			 "defaults", "in", action_name(p->defaults[DIR_IN]),
			 "out", action_name(p->defaults[DIR_OUT]),
			 "hosts", hosts_json(p), "services", services, "rules", rules);
	if (root && p->forward_covered)
		json_object_set_new(json_object_get(root, "defaults"), "forward",
				    json_string(action_name(p->defaults[DIR_FWD])));
	if (root && p->max_elements && p->max_elements != POLICY_DEFAULT_MAX_ELEMENTS)
		json_object_set_new(root, "max-elements", json_integer((json_int_t)p->max_elements));
	return root;
}
