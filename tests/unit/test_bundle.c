/* A bundle is a self-contained policy: parsed again, it decides every
 * packet as the original does. */
#include "config.h"

#include "bundle.h"
#include "classify.h"
#include "gen.h"
#include "parse.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

static struct policy *reparse(const struct policy *p)
{
	char path[] = "/tmp/sagate-bundle-XXXXXX";
	int fd = mkstemp(path);
	json_t *j = bundle_from_policy(p);
	struct diag_list d;
	struct policy *q;

	cr_assert_geq(fd, 0);
	cr_assert_not_null(j);
	cr_assert_eq(json_dumpfd(j, fd, JSON_INDENT(1)), 0);
	close(fd);
	json_decref(j);
	diag_list_init(&d);
	q = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(q, "bundle did not parse: %s",
			   d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	unlink(path);
	return q;
}

static void same_decisions(const struct policy *a, const struct policy *b,
			   uint64_t *s, int packets)
{
	static const unsigned protos[] = { 6, 17, 1, 58, 50, 132 };

	for (int i = 0; i < packets; i++) {
		struct packet_key k = { 0 };
		unsigned p = protos[gen_rand(s) % 6];

		k.dir = gen_rand(s) % 2 ? DIR_IN : DIR_OUT;
		k.fam = gen_rand(s) % 3 ? AF4 : AF6;
		k.peer = (k.fam == AF4 ? 0x0a000000 : (u128)0xfd00 << 112) + gen_rand(s) % 300;
		k.local = (k.fam == AF4 ? 0x0a000000 : (u128)0xfd00 << 112) + gen_rand(s) % 40;
		k.key = KEY(p, 1 + gen_rand(s) % 120);
		if (classify_eval_rules(a, &k) != classify_eval_rules(b, &k))
			cr_assert_fail("packet %d decided differently after the round trip", i);
	}
}

Test(bundle, generated_policies_round_trip)
{
	struct gen_opts o = { .nrules = 60, .addr_span = 256, .port_span = 100,
			      .use_v6 = true, .use_local = true, .wide_pct = 20 };

	for (uint64_t seed = 1; seed <= 20; seed++) {
		uint64_t s = seed * 977;
		struct policy *p = gen_policy(&o, &s), *q = reparse(p);

		cr_assert_eq(q->nrules, p->nrules);
		for (size_t i = 0; i < p->nrules; i++)
			cr_assert(rule_same_decision(&p->rules[i], &q->rules[i]),
				  "rule %zu changed its decision", i);
		same_decisions(p, q, &s, 3000);
		policy_free(p);
		policy_free(q);
	}
}

/* "max-elements" travels with the bundle: rollback and the engine load
 * the applied policy under the limit it was applied with. */
Test(bundle, max_elements_round_trips)
{
	struct gen_opts o = { .nrules = 5, .addr_span = 256, .port_span = 100 };
	uint64_t s = 99;
	struct policy *p = gen_policy(&o, &s), *q;

	p->max_elements = 2500000;
	q = reparse(p);
	cr_assert_eq(q->max_elements, 2500000);
	policy_free(q);
	p->max_elements = POLICY_DEFAULT_MAX_ELEMENTS;
	q = reparse(p);
	cr_assert_eq(q->max_elements, POLICY_DEFAULT_MAX_ELEMENTS);
	policy_free(q);
	policy_free(p);
}
