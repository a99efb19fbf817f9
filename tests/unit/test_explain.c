/* explain: the deciding rule, the kernel's walk of the compiled plan and
 * the engine's verdict, for packets of each kind of rule. */
#include "config.h"

#include "audit_util.h"
#include "explain.h"
#include "fake_ident.h"
#include "findings.h"
#include "sa_match.h"

#define NOW 1700001000ull

static const char policy_text[] =
	"{\"version\": 1, \"defaults\": {\"in\": \"block\", \"out\": \"permit\"}, \"rules\": ["
	" {\"name\": \"web\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 80},"
	" {\"name\": \"pg\", \"action\": \"require-ipsec\", \"peers\": [\"10.0.0.5\", \"2001:db8::5\"],"
	"  \"protocol\": \"tcp\", \"ports\": 5432, \"ipsec\": {\"mode\": \"transport\"}},"
	" {\"name\": \"pinned\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.6\","
	"  \"protocol\": \"tcp\", \"ports\": 22, \"ipsec\": {\"reqid\": 42}},"
	" {\"name\": \"nope\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"udp\", \"ports\": 53},"
	" {\"name\": \"out-ipsec\", \"action\": \"require-ipsec\", \"direction\": \"out\", \"peers\": \"10.0.9.9\","
	"  \"protocol\": \"tcp\", \"ports\": 443},"
	" {\"name\": \"who\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.7\","
	"  \"protocol\": \"tcp\", \"ports\": 5500,"
	"  \"ipsec\": {\"identities\": [\"O=Acme, CN=app1\", \"*.app.example.org\"]}}"
	"]}";

static const struct fake_ident idents[] = {
	{ 0x4000, 0, { "O=Acme, CN=app1", "pubkey", NULL, NULL } },
	{ 0x4001, 0, { "O=Acme, CN=app2", "pubkey", NULL, NULL } },
	{ 0 }
};
static struct fake_ident_table ident_table = { idents, 0 };
static sa_ident_lookup_fn ask_lookup;	/* the identity source ask() gives explain */

static struct policy *pol;
static struct classes *cls;
static struct plan *eng, *kern;
static struct xfrm_cache *sas;
static const char *live_proc;	/* explain of the applied policy: this /proc */

static void setup(void)
{
	struct compile_opts e = { PLAN_ENGINE, 7, 0 }, k = { PLAN_KERNEL_ONLY, 0, 0 };

	pol = tu_policy(policy_text);
	cls = classify(pol, 0);
	eng = compile_plan(pol, cls, &e);
	kern = compile_plan(pol, cls, &k);
	cr_assert(cls && eng && kern);
	sas = xfrm_cache_alloc();
	tu_sa(sas, "10.0.0.5", "10.0.0.1", 0x1000, true, NOW);
	tu_sa(sas, "10.0.0.5", "10.0.0.1", 0x2000, false, NOW);
	tu_sa(sas, "2001:db8::5", "2001:db8::1", 0x3000, true, NOW);
	tu_sa(sas, "10.0.0.7", "10.0.0.1", 0x4000, true, NOW);
	tu_sa(sas, "10.0.0.7", "10.0.0.1", 0x4001, true, NOW);
	tu_sa(sas, "10.0.0.7", "10.0.0.1", 0x4002, true, NOW);
}

static void teardown(void)
{
	xfrm_cache_free(sas);
	plan_free(eng);
	plan_free(kern);
	classes_free(cls);
	policy_free(pol);
}

TestSuite(explain, .init = setup, .fini = teardown);

static json_t *ask(const struct plan *pl, enum direction dir, const char *peer, uint8_t proto,
		   uint16_t port, enum explain_ipsec ip, uint32_t v)
{
	struct explain_ctx c = { pol, cls, pl, sas, NOW, live_proc, ask_lookup, &ident_table };
	struct explain_req q;
	struct addr_range a;
	json_t *j;

	memset(&q, 0, sizeof(q));
	cr_assert_eq(addr_parse(peer, &a), ADDR_OK);
	q.key.dir = dir;
	q.key.fam = a.fam;
	q.key.peer = a.lo;
	q.key.local = a.fam == AF4 ? 0x0a000001 : (((u128)0x20010db8u << 96) | 1);
	q.local_given = true;
	q.key.key = KEY(proto, port);
	q.ipsec = ip;
	q.spi = q.reqid = v;
	j = explain_packet(&c, &q);
	cr_assert_not_null(j);
	return j;
}

static const char *str(json_t *j, const char *a, const char *b)
{
	json_t *x = json_object_get(j, a);

	return json_string_value(b ? json_object_get(x, b) : x);
}

Test(explain, permit_and_default)
{
	json_t *j = ask(eng, DIR_IN, "192.0.2.1", 6, 80, EXPLAIN_IPSEC_NONE, 0);

	cr_assert_str_eq(str(j, "policy", "rule"), "web");
	cr_assert_str_eq(str(j, "kernel", "verdict"), "accept");
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	cr_assert(json_is_true(json_object_get(json_object_get(j, "policy"), "agrees_with_first_match")));
	json_decref(j);
	j = ask(eng, DIR_IN, "192.0.2.1", 6, 81, EXPLAIN_IPSEC_NONE, 0);
	cr_assert(json_is_null(json_object_get(json_object_get(j, "policy"), "rule")));
	cr_assert_str_eq(str(j, "policy", "decided_by"), "default");
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	cr_assert(json_is_true(json_object_get(json_object_get(j, "kernel"), "by_chain_policy")));
	json_decref(j);
	j = ask(eng, DIR_IN, "10.0.0.9", 17, 53, EXPLAIN_IPSEC_NONE, 0);
	cr_assert_str_eq(str(j, "policy", "rule"), "nope");
	cr_assert_str_eq(str(j, "kernel", "element_rule"), "nope");
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
}

Test(explain, require_ipsec_cleartext_is_dropped_in_the_kernel)
{
	json_t *j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_NONE, 0);

	cr_assert_str_eq(str(j, "policy", "action"), "require-ipsec");
	cr_assert_str_eq(str(j, "kernel", "verdict"), "drop");
	cr_assert(json_is_false(json_object_get(json_object_get(j, "engine"), "queued")));
	cr_assert_gt(json_array_size(json_object_get(json_object_get(j, "engine"), "checks")), 3);
	json_decref(j);
}

Test(explain, engine_verdicts_by_sa)
{
	json_t *j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x1000);

	cr_assert_str_eq(str(j, "kernel", "verdict"), "queue");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "kernel"), "queue")), 7);
	cr_assert_str_eq(str(j, "engine", "reason"), "accept");
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	json_decref(j);
	j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x2000);
	cr_assert_str_eq(str(j, "engine", "reason"), "drop-not-encrypted");
	cr_assert(strstr(str(j, "engine", "why"), "integrity-only"), "%s", str(j, "engine", "why"));
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
	j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x9999);
	cr_assert_str_eq(str(j, "engine", "reason"), "drop-sa-unknown");
	json_decref(j);
	j = ask(eng, DIR_IN, "2001:db8::5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x3000);
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	json_decref(j);
}

/* Live, a queued packet meets sagated only if one serves the queue: the
 * queue rule has no bypass, so without it the kernel drops, SA or not. */
Test(explain, live_queue_needs_sagated)
{
	char dir[] = "/tmp/sagate-proc-XXXXXX";
	json_t *j;

	cr_assert_not_null(mkdtemp(dir));
	live_proc = dir;
	j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x1000);
	cr_assert_str_eq(str(j, "engine", "sagated"), "not-running");
	cr_assert_str_eq(str(j, "engine", "reason"), "drop-no-sagated");
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
	tu_proc_sagated(dir);
	tu_proc_queues(dir, "    3   4242     0 2 65531     0     0        0  1\n");
	j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x1000);
	cr_assert_str_eq(str(j, "engine", "sagated"), "queue-unbound");
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
	tu_proc_queues(dir, "    7   4242     0 2 65531     0     0        0  1\n");
	j = ask(eng, DIR_IN, "10.0.0.5", 6, 5432, EXPLAIN_IPSEC_SPI, 0x1000);
	cr_assert_str_eq(str(j, "engine", "sagated"), "serving");
	cr_assert_str_eq(str(j, "engine", "reason"), "accept");
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	json_decref(j);
	/* not queued: sagated's absence changes nothing */
	j = ask(eng, DIR_IN, "192.0.2.1", 6, 80, EXPLAIN_IPSEC_NONE, 0);
	cr_assert_null(json_object_get(json_object_get(j, "engine"), "sagated"));
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	json_decref(j);
	live_proc = NULL;
	tu_proc_rm(dir);
}

Test(explain, kernel_only_reqid)
{
	json_t *j = ask(kern, DIR_IN, "10.0.0.6", 6, 22, EXPLAIN_IPSEC_REQID, 42);

	cr_assert_str_eq(str(j, "mode", NULL), "kernel-only");
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	json_decref(j);
	j = ask(kern, DIR_IN, "10.0.0.6", 6, 22, EXPLAIN_IPSEC_REQID, 41);
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
	j = ask(kern, DIR_IN, "10.0.0.6", 6, 22, EXPLAIN_IPSEC_NONE, 0);
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
}

Test(explain, outbound_require_ipsec)
{
	json_t *j = ask(eng, DIR_OUT, "10.0.9.9", 6, 443, EXPLAIN_IPSEC_NONE, 0);

	cr_assert_str_eq(str(j, "policy", "rule"), "out-ipsec");
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
	j = ask(eng, DIR_OUT, "10.0.9.9", 6, 443, EXPLAIN_IPSEC_REQID, 1);
	cr_assert_str_eq(str(j, "outcome", NULL), "accept");
	json_decref(j);
}

Test(explain, sa_match_reasons)
{
	const struct xfrm_sa *gcm = NULL, *null = NULL;
	char why[256];

	cr_assert_eq(xfrm_cache_lookup(sas, 0x1000, AF4, 0x0a000001, &gcm), 1);
	cr_assert_eq(xfrm_cache_lookup(sas, 0x2000, AF4, 0x0a000001, &null), 1);
	cr_assert_eq(sa_match_rule(&pol->rules[1], gcm, NOW, NULL), DECIDE_ACCEPT_OK);
	cr_assert_eq(sa_match_rule(&pol->rules[1], null, NOW, NULL), DECIDE_DROP_NOT_ENCRYPTED);
	cr_assert_eq(sa_match_rule(&pol->rules[2], gcm, NOW, NULL), DECIDE_DROP_SA_PEER);
	sa_match_why(why, sizeof(why), &pol->rules[1], null, DECIDE_DROP_NOT_ENCRYPTED, NOW);
	cr_assert(strstr(why, "fails rule \"pg\", which requires encryption"), "%s", why);
}

/* A rule that names identities: the policy side lists them, the checks
 * end with the identity; without an identity source the verdict says it
 * depends on the identity, with one it is decide()'s, naming the
 * identity. */
Test(explain, identity_rules)
{
	json_t *j = ask(eng, DIR_IN, "10.0.0.7", 6, 5500, EXPLAIN_IPSEC_SPI, 0x4000), *ids, *ck;

	ids = json_object_get(json_object_get(j, "policy"), "identities");
	cr_assert_eq(json_array_size(ids), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ids, 1), "identity")),
			 "*.app.example.org");
	ck = json_object_get(json_object_get(j, "engine"), "checks");
	cr_assert(strstr(json_string_value(json_array_get(ck, json_array_size(ck) - 1)),
			 "identity: the IKE identity"));
	cr_assert_str_eq(str(j, "engine", "verdict"), "depends-on-identity");
	cr_assert_str_eq(str(j, "outcome", NULL), "depends-on-identity");
	cr_assert(strstr(str(j, "engine", "why"), "cannot see"), "%s", str(j, "engine", "why"));
	json_decref(j);

	ask_lookup = fake_ident_lookup;
	j = ask(eng, DIR_IN, "10.0.0.7", 6, 5500, EXPLAIN_IPSEC_SPI, 0x4000);
	cr_assert_str_eq(str(j, "engine", "reason"), "accept");
	cr_assert_str_eq(str(json_object_get(j, "engine"), "identity", "id"), "O=Acme, CN=app1");
	cr_assert(strstr(str(j, "engine", "why"), "matches \"O=Acme, CN=app1\""), "%s",
		  str(j, "engine", "why"));
	json_decref(j);
	j = ask(eng, DIR_IN, "10.0.0.7", 6, 5500, EXPLAIN_IPSEC_SPI, 0x4001);
	cr_assert_str_eq(str(j, "engine", "reason"), "drop-identity");
	cr_assert(strstr(str(j, "engine", "why"), "IKE identity \"O=Acme, CN=app2\""), "%s",
		  str(j, "engine", "why"));
	cr_assert_str_eq(str(j, "outcome", NULL), "drop");
	json_decref(j);
	j = ask(eng, DIR_IN, "10.0.0.7", 6, 5500, EXPLAIN_IPSEC_SPI, 0x4002);
	cr_assert_str_eq(str(j, "engine", "reason"), "drop-no-identity");
	cr_assert(strstr(str(j, "engine", "why"), "no IKE identity known"), "%s",
		  str(j, "engine", "why"));
	json_decref(j);
	ask_lookup = NULL;
}

/* sagate sa's sentences for identity rules. */
Test(explain, sa_match_identity_sentences)
{
	const struct rule *r = &pol->rules[pol->nrules - 1];
	const struct xfrm_sa *sa = NULL;
	char why[1024];

	cr_assert_eq(xfrm_cache_lookup(sas, 0x4001, AF4, 0x0a000001, &sa), 1);
	cr_assert_eq(sa_match_rule(r, sa, NOW, NULL), DECIDE_DROP_NO_IDENTITY);
	cr_assert_eq(sa_match_rule_ident(r, sa, NOW, NULL, fake_ident_lookup, &ident_table),
		     DECIDE_DROP_IDENTITY);
	sa_match_why_ident(why, sizeof(why), r, sa, DECIDE_DROP_IDENTITY, NOW,
			   fake_ident_lookup(&ident_table, 0x4001, 0));
	cr_assert_str_eq(why, "IKE identity \"O=Acme, CN=app2\" (pubkey): fails rule \"who\", which admits only \"O=Acme, CN=app1\", \"*.app.example.org\"");
	cr_assert_eq(xfrm_cache_lookup(sas, 0x4000, AF4, 0x0a000001, &sa), 1);
	cr_assert_eq(sa_match_rule_ident(r, sa, NOW, NULL, fake_ident_lookup, &ident_table),
		     DECIDE_ACCEPT_OK);
}

/* Kernel-only mode cannot ask who the peer is: an identity rule is an
 * error there (the kernel alone would admit any peer with an SA). */
Test(explain, identity_rules_refused_in_kernel_only_mode)
{
	struct diag_list d;

	diag_list_init(&d);
	cr_assert_not(findings_mode_refused(pol, PLAN_ENGINE, &d));
	cr_assert_eq(d.count, 0);
	cr_assert(findings_mode_refused(pol, PLAN_KERNEL_ONLY, &d));
	cr_assert_eq(d.count, 1);
	cr_assert_eq(d.items[0].severity, DIAG_ERROR);
	cr_assert_str_eq(d.items[0].rule, "who");
	cr_assert(strstr(d.items[0].message, "only sagated can check"));
	diag_list_fini(&d);
}
