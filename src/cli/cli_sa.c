/* sagate sa: the kernel's SAs, and for each the require-ipsec rules it
 * can satisfy, and why not the others (decide.c's checks). */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "sa_match.h"
#include "state.h"
#include "xfrm_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Who the peer of an SA is, for rules that name identities.  The CLI
 * has no identity source yet (sagated learns identities from strongSwan's
 * vici); until it has, identity rules show their side of the question
 * and say that the answer is not known here. */
struct ident_source {
	sa_ident_lookup_fn lookup;	/* NULL: none */
	void *ctx;
};

static json_t *ident_json(const struct sa_ident *id)
{
	json_t *sans = json_array();

	for (size_t i = 0; id->sans && id->sans[i]; i++)
		json_array_append_new(sans, json_string(id->sans[i]));
	return json_pack("{s:s?, s:s?, s:o, s:s?}", "id", id->id, "auth", id->auth, "sans", sans,
			 "cert_subject", id->cert_subject);
}

static json_t *rule_idents_json(const struct rule *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < r->ipsec.nidents; i++)
		json_array_append_new(a, json_pack("{s:s, s:s?}", "identity", r->ipsec.idents[i].text,
						   "group", r->ipsec.idents[i].group));
	return a;
}

static json_t *rules_json(const struct policy *p, const struct xfrm_sa *sa, uint64_t now,
			  const struct ident_source *src)
{
	const struct sa_ident *id = src->lookup ? src->lookup(src->ctx, sa->spi, sa->reqid) : NULL;
	json_t *a = json_array(), *x;
	char why[1024], ids[512];

	/* an outbound SA carries nothing a rule admits */
	for (size_t i = 0; p && sa->dir != XFRM_SA_OUT && i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		enum decide_reason d;

		/* inbound and forward rules admit what an inbound SA carries */
		if (r->action != ACT_REQUIRE_IPSEC || r->dir == DIR_OUT)
			continue;
		d = sa_match_rule_ident(r, sa, now, NULL, src->lookup, src->ctx);
		sa_match_why_ident(why, sizeof(why), r, sa, d, now, id);
		x = json_pack("{s:s, s:b, s:s, s:s}", "rule", r->name,
			      "satisfies", d == DECIDE_ACCEPT_OK,
			      "reason", decide_reason_name(d), "why", why);
		if (r->ipsec.nidents) {
			json_object_set_new(x, "identities", rule_idents_json(r));
			json_object_set_new(x, "identity_matches", d == DECIDE_ACCEPT_OK ? json_true() :
					    d == DECIDE_DROP_IDENTITY ? json_false() : json_null());
		}
		if (d == DECIDE_DROP_NO_IDENTITY && !src->lookup) {
			/* everything else holds; the answer is the identity's */
			sa_match_idents(ids, sizeof(ids), r);
			snprintf(why, sizeof(why),
				 "satisfies rule \"%s\" if its IKE identity is one of %s; sagate sa cannot see IKE identities (sagated learns them from strongSwan's vici)",
				 r->name, ids);
			json_object_set_new(x, "satisfies", json_null());
			json_object_set_new(x, "why", json_string(why));
		}
		json_array_append_new(a, x);
	}
	return a;
}

/* What a byte or packet limit leaves; null for none (XFRM_INF). */
static json_t *limit_left(uint64_t limit, uint64_t used)
{
	if (limit == UINT64_MAX)
		return json_null();
	return json_integer(limit > used ? (json_int_t)(limit - used) : 0);
}

static json_t *life_json(const struct xfrm_sa *sa, uint64_t now)
{
	long long hard = sa_match_time_left(sa, now, false), soft = sa_match_time_left(sa, now, true);
	json_t *j = json_pack("{s:I, s:I, s:I}", "added", (json_int_t)sa->life.add_time,
			      "bytes", (json_int_t)sa->life.bytes,
			      "packets", (json_int_t)sa->life.packets);

	json_object_set_new(j, "hard_seconds_left", hard < 0 ? json_null() : json_integer(hard));
	json_object_set_new(j, "soft_seconds_left", soft < 0 ? json_null() : json_integer(soft));
	json_object_set_new(j, "hard_bytes_left", limit_left(sa->life.hard_bytes, sa->life.bytes));
	json_object_set_new(j, "hard_packets_left",
			    limit_left(sa->life.hard_packets, sa->life.packets));
	return j;
}

static json_t *sa_json(const struct policy *p, const struct xfrm_sa *sa, uint64_t now,
		       const struct ident_source *src)
{
	const struct sa_ident *id = src->lookup ? src->lookup(src->ctx, sa->spi, sa->reqid) : NULL;
	json_t *j;

	char s[64], d[64], a[256], spi[16];
	const char *state = xfrm_sa_expired(sa, now) ? "expired" :
			    xfrm_sa_dying(sa, now) ? "dying" : "valid";

	addr_format(sa->fam, sa->saddr, s, sizeof(s));
	addr_format(sa->fam, sa->daddr, d, sizeof(d));
	sa_match_algs(a, sizeof(a), sa);
	snprintf(spi, sizeof(spi), "0x%08x", sa->spi);
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:b, s:s, s:s, s:o, s:o}",
			 "peer", s, "destination", d, "protocol", xfrm_proto_name(sa->proto),
			 "spi", spi, "reqid", (json_int_t)sa->reqid, "mode", xfrm_mode_name(sa->mode),
			 "direction", sa->dir == XFRM_SA_IN ? "in" : sa->dir == XFRM_SA_OUT ? "out" : "unknown",
			 "encrypts", xfrm_sa_encrypts(sa), "algorithms", a, "state", state,
			 "lifetime", life_json(sa, now), "rules", rules_json(p, sa, now, src));
	if (j && sa->dir != XFRM_SA_OUT)
		json_object_set_new(j, "identity", id ? ident_json(id) : json_null());
	return j;
}

static void print_sa(json_t *x)
{
	json_t *life = json_object_get(x, "lifetime"), *r;
	size_t i;

	printf("%s %s -> %s spi %s reqid %lld %s mode, %s (%s)\n",
	       json_string_value(json_object_get(x, "protocol")),
	       json_string_value(json_object_get(x, "peer")),
	       json_string_value(json_object_get(x, "destination")),
	       json_string_value(json_object_get(x, "spi")),
	       (long long)json_integer_value(json_object_get(x, "reqid")),
	       json_string_value(json_object_get(x, "mode")),
	       json_string_value(json_object_get(x, "algorithms")),
	       json_string_value(json_object_get(x, "state")));
	if (json_is_integer(json_object_get(life, "hard_seconds_left")))
		printf("    lifetime: %lld s left (soft %lld s)\n",
		       (long long)json_integer_value(json_object_get(life, "hard_seconds_left")),
		       (long long)json_integer_value(json_object_get(life, "soft_seconds_left")));
	else
		printf("    lifetime: no time limit\n");
	if (json_is_integer(json_object_get(life, "hard_bytes_left")))
		printf("    bytes left: %lld\n",
		       (long long)json_integer_value(json_object_get(life, "hard_bytes_left")));
	if (json_is_object(json_object_get(x, "identity")))
		printf("    IKE identity: %s (%s)\n",
		       json_string_value(json_object_get(json_object_get(x, "identity"), "id")),
		       json_string_value(json_object_get(json_object_get(x, "identity"), "auth")));
	json_array_foreach(json_object_get(x, "rules"), i, r)
		printf("    %s %s\n", json_is_true(json_object_get(r, "satisfies")) ? "ok:  " :
		       json_is_null(json_object_get(r, "satisfies")) ? "?:   " : "fail:",
		       json_string_value(json_object_get(r, "why")));
}

int cli_sa(const struct cli_opts *o)
{
	struct loaded l;
	struct state_meta m;
	struct xfrm_cache *c = xfrm_cache_alloc();
	const struct xfrm_sa **v = NULL;
	uint64_t now = (uint64_t)time(NULL);
	int rc = cli_load_either(o, o->policy, false, &l, &m);
	size_t n = 0;
	json_t *a = json_array(), *x;
	const struct ident_source src = { NULL, NULL };

	if (rc == EXIT_POLICY && !o->policy && !state_generation(state_dir(), STATE_CURRENT)) {
		rc = EXIT_OK;	/* nothing applied: SAs without rules */
		diag_list_fini(&l.diags);
	}
	if (rc == EXIT_OK && (!c || xfrm_dump_sas(c, &l.diags) < 0))
		rc = EXIT_SYSTEM;
	if (rc == EXIT_OK)
		v = xfrm_dump_sorted(c, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, sa_json(l.pol, v[i], now, &src));
	if (rc == EXIT_OK && o->json) {
		rc = cli_dump_json(json_pack("{s:s, s:b, s:s?, s:s, s:O}", "command", "sa", "ok", 1,
					     "policy", o->policy ? o->policy : m.source,
					     "identity_source", src.lookup ? "vici" : "none", "sas", a)) < 0 ?
		     EXIT_SYSTEM : EXIT_OK;
	} else if (rc == EXIT_OK) {
		json_array_foreach(a, n, x)
			print_sa(x);
		if (!json_array_size(a))
			printf("no SAs\n");
		if (!l.pol)
			printf("(no policy applied: give --policy FILE to check SAs against rules)\n");
	}
	cli_print_errors(stderr, &l.diags);
	json_decref(a);
	free(v);
	xfrm_cache_free(c);
	state_meta_fini(&m);
	cli_unload(&l);
	return rc;
}
