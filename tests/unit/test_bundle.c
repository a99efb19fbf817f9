/* A bundle is a self-contained policy: parsed again, it decides every
 * packet as the original does. */
#include "config.h"

#include "bundle.h"
#include "classify.h"
#include "gen.h"
#include "parse.h"

#include <criterion/criterion.h>
#include <stdio.h>
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
	cr_assert_eq(d.count, 0, "bundle parsed with: %s", d.count ? d.items[0].message : "");
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

/* "logging" and "defaults"."log" travel with the bundle: the applied
 * generation logs, and to the group, that the admin's file said. */
Test(bundle, logging_round_trips)
{
	struct gen_opts o = { .nrules = 5, .addr_span = 256, .port_span = 100 };
	uint64_t s = 7;
	struct policy *p = gen_policy(&o, &s), *q;

	q = reparse(p);
	cr_expect_eq(q->logging.group, POLICY_LOG_GROUP);
	cr_expect_eq(q->logging.rate, POLICY_LOG_RATE);
	cr_expect_eq(q->logging.unit, 1);
	cr_expect_eq(q->logging.burst, POLICY_LOG_BURST);
	cr_expect_not(q->log_default[DIR_IN] || q->log_default[DIR_OUT]);
	policy_free(q);
	p->logging = (struct policy_logging){ 4242, 30, 60, 7 };
	p->log_default[DIR_IN] = p->log_default[DIR_OUT] = true;
	q = reparse(p);
	cr_expect_eq(q->logging.group, 4242);
	cr_expect_eq(q->logging.rate, 30);
	cr_expect_eq(q->logging.unit, 60);
	cr_expect_eq(q->logging.burst, 7);
	cr_expect(q->log_default[DIR_IN] && q->log_default[DIR_OUT]);
	cr_expect_not(q->log_default[DIR_FWD]);
	policy_free(q);
	policy_free(p);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* Host groups, used or not, nested or from an include, come back with
 * their names, addresses and order (the audit names them); the bundle
 * parses without a warning. */
Test(bundle, host_groups_kept)
{
	char dir[] = "/tmp/sagate-bundle-XXXXXX", path[64], inc[64];
	struct diag_list d;
	struct policy *p, *q;
	uint64_t s = 7;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(inc, sizeof(inc), "%s/hosts.json", dir);
	put(inc, "{\"version\": 1, \"hosts\": {\"app\": [\"10.0.0.21\", \"fd00::21\"], "
		 "\"net\": [\"10.0.1.0/24\", \"10.0.0.100-10.0.0.120\", \"fd00::/120\"], "
		 "\"site\": [\"@app\", \"@net\"], \"unused\": \"10.0.0.9\"}}");
	snprintf(path, sizeof(path), "%s/p.json", dir);
	put(path, "{\"version\": 1, \"include\": [\"hosts.json\"], "
		  "\"hosts\": {\"own\": [\"10.0.0.7\", \"@app\"]}, "
		  "\"rules\": [{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"10.0.0.21\", "
		  "\"protocol\": \"tcp\", \"ports\": 5}, "
		  "{\"name\": \"b\", \"action\": \"block\", \"peers\": \"@site\"}]}");
	diag_list_init(&d);
	p = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	cr_assert_eq(p->ngroups, 5);
	q = reparse(p);
	cr_assert_eq(q->ngroups, p->ngroups);
	for (size_t i = 0; i < p->ngroups; i++) {
		cr_assert_str_eq(q->groups[i].name, p->groups[i].name);
		cr_assert(addr_set_equal(&q->groups[i].set, &p->groups[i].set),
			  "group \"%s\" changed", p->groups[i].name);
	}
	same_decisions(p, q, &s, 3000);
	policy_free(p);
	policy_free(q);
	unlink(path);
	unlink(inc);
	rmdir(dir);
}

/* A rule's identities, written literally or through groups of an
 * include, come back as the same patterns in the same order: a bundle
 * that lost them would turn an identity rule into an address rule. */
Test(bundle, identities_kept)
{
	char dir[] = "/tmp/sagate-bundle-XXXXXX", path[64], inc[64];
	struct diag_list d;
	struct policy *p, *q;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(inc, sizeof(inc), "%s/ids.json", dir);
	put(inc, "{\"version\": 1, \"identities\": {\"apps\": [\"C=CH, O=Acme\\\\, Inc., CN=*\", "
		 "\"*.app.example.org\"], \"ops\": \"*@example.org\"}}");
	snprintf(path, sizeof(path), "%s/p.json", dir);
	put(path, "{\"version\": 1, \"include\": [\"ids.json\"], "
		  "\"rules\": [{\"name\": \"pg\", \"action\": \"require-ipsec\", \"protocol\": \"tcp\", "
		  "\"ports\": 5432, \"ipsec\": {\"identities\": [\"@apps\", \"san:192.0.2.0/24\", \"@ops\"]}}, "
		  "{\"name\": \"ssh\", \"action\": \"require-ipsec\", \"protocol\": \"tcp\", \"ports\": 22}]}");
	diag_list_init(&d);
	p = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	cr_assert_eq(p->rules[0].ipsec.nidents, 4);
	cr_assert_str_eq(p->rules[0].ipsec.idents[0].group, "apps");
	cr_assert_null(p->rules[0].ipsec.idents[2].group);
	cr_assert_str_eq(p->rules[0].ipsec.idents[3].text, "*@example.org");
	cr_assert_eq(p->rules[1].ipsec.nidents, 0);
	q = reparse(p);
	cr_assert_eq(q->rules[0].ipsec.nidents, 4);
	for (size_t i = 0; i < 4; i++)
		cr_assert_str_eq(q->rules[0].ipsec.idents[i].text, p->rules[0].ipsec.idents[i].text);
	cr_assert(rule_same_decision(&p->rules[0], &q->rules[0]));
	cr_assert_not(rule_same_decision(&p->rules[0], &p->rules[1]),
		      "a rule with identities decides unlike one without");
	policy_free(p);
	policy_free(q);
	unlink(inc);
	unlink(path);
	rmdir(dir);
}
