/* Forwarded traffic: forward rules parsed strictly, compiled to a forward
 * chain keyed by source and destination, walked by explain's simulator,
 * decided by decide_dir for packets the forward hook queued, and kept in
 * the bundle; a policy without them compiles no forward chain. */
#include "config.h"

#include "bundle.h"
#include "classify.h"
#include "compile.h"
#include "decide.h"
#include "forward.h"
#include "parse.h"
#include "plan_sim.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1700001000ull

static const char fwd_text[] =
	"{\"version\": 1,\n"
	" \"defaults\": {\"in\": \"block\"},\n"
	" \"rules\": [\n"
	"  {\"name\": \"ssh\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 22},\n"
	"  {\"name\": \"fwd-pg\", \"direction\": \"forward\", \"action\": \"require-ipsec\",\n"
	"   \"from\": \"10.77.0.21\", \"to\": \"10.79.0.10\", \"protocol\": \"tcp\", \"ports\": 5432,\n"
	"   \"ipsec\": {\"mode\": \"tunnel\", \"gateways\": [\n"
	"     {\"gateway\": \"198.51.100.1\", \"inner\": \"10.77.0.0/24\"}]}},\n"
	"  {\"name\": \"fwd-web\", \"direction\": \"forward\", \"action\": \"permit\",\n"
	"   \"to\": \"10.79.0.0/24\", \"protocol\": \"tcp\", \"ports\": 80}\n"
	" ]}\n";

static const char in_only_text[] =
	"{\"version\": 1, \"rules\": [\n"
	"  {\"name\": \"ssh\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 22}]}\n";

static const char default_only_text[] =
	"{\"version\": 1, \"defaults\": {\"forward\": \"permit\"}, \"rules\": []}\n";

static struct policy *parse_text(const char *text)
{
	char path[] = "/tmp/sagate-forward-XXXXXX";
	int fd = mkstemp(path);
	struct diag_list d;
	struct policy *p;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	diag_list_init(&d);
	p = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "no message");
	diag_list_fini(&d);
	unlink(path);
	return p;
}

static struct plan *compile_text(const char *text, enum plan_mode mode,
				 struct policy **pp, struct classes **cp)
{
	struct compile_opts co = { mode, 0, 0 };
	struct plan *plan;

	*pp = parse_text(text);
	*cp = classify(*pp, CLASSIFY_ANALYSE);
	cr_assert_not_null(*cp);
	plan = compile_plan(*pp, *cp, &co);
	cr_assert_not_null(plan);
	return plan;
}

/* fwd_text and in_only_text, both compiled in engine mode */
struct pair {
	struct policy *p, *q;
	struct classes *c, *d;
	struct plan *plan, *plain;
};

static void pair_up(struct pair *x)
{
	x->plan = compile_text(fwd_text, PLAN_ENGINE, &x->p, &x->c);
	x->plain = compile_text(in_only_text, PLAN_ENGINE, &x->q, &x->d);
}

static void pair_down(struct pair *x)
{
	plan_free(x->plan);
	plan_free(x->plain);
	classes_free(x->c);
	classes_free(x->d);
	policy_free(x->p);
	policy_free(x->q);
}

Test(forward, rules_and_default_parse)
{
	struct policy *p = parse_text(fwd_text), *q = parse_text(in_only_text);
	struct policy *r = parse_text(default_only_text);

	cr_assert(p->forward_covered);
	cr_assert_eq(p->defaults[DIR_FWD], ACT_BLOCK, "forward rules, no default: block");
	cr_assert_eq(p->rules[1].dir, DIR_FWD);
	cr_assert(!p->rules[1].peers.any && !p->rules[1].local.any);
	cr_assert_eq(p->rules[1].local.v[0].lo, 0x0a4f000a);
	cr_assert(p->rules[2].peers.any, "no \"from\": any source");
	cr_assert(!q->forward_covered, "no forward word: forwarding left alone");
	cr_assert(r->forward_covered);
	cr_assert_eq(r->defaults[DIR_FWD], ACT_PERMIT);
	policy_free(p);
	policy_free(q);
	policy_free(r);
}

/* The forward chain: on hook forward, policy drop, its maps keyed by
 * source, destination, protocol and port; none without forward rules */
Test(forward, compiled_chain_and_maps)
{
	struct pair x;
	struct plan_chain *fc;
	struct plan_set *ports, *exact;
	bool queued = false;
	size_t dirs = 0;

	pair_up(&x);
	fc = plan_find_chain(x.plan, "forward");
	ports = plan_find_set(x.plan, "fwd4_ports");
	exact = plan_find_set(x.plan, "fwd4_exact");

	cr_assert_not_null(fc);
	cr_assert_eq(fc->hook, PH_FORWARD);
	cr_assert(fc->policy_drop);
	cr_assert_not_null(ports);
	cr_assert_not_null(exact);
	cr_assert_eq(ports->nfields, 4);
	cr_assert_eq(ports->fields[0], PF_SADDR4);
	cr_assert_eq(ports->fields[1], PF_DADDR4);
	cr_assert_eq(exact->nelems, 1, "10.77.0.21 . 10.79.0.10 . tcp . 5432");
	cr_assert_eq(exact->elems[0].verdict.kind, PV_GOTO);
	cr_assert_str_eq(exact->elems[0].verdict.chain, "ipsec_in");
	for (size_t i = 0; i < x.plan->nchains; i++)
		for (size_t k = 0; k < x.plan->chains[i].nrules; k++)
			queued |= x.plan->chains[i].rules[k].verdict.kind == PV_QUEUE;
	cr_assert(queued);
	/* established require-ipsec flows: both ways checked */
	for (size_t i = 0; i < fc->nrules; i++)
		for (size_t s = 0; s < fc->rules[i].nstmts; s++)
			dirs += fc->rules[i].stmts[s].kind == PS_CT_DIRECTION;
	cr_assert_eq(dirs, 3);
	cr_assert_null(plan_find_chain(x.plain, "forward"));
	cr_assert_null(plan_find_set(x.plain, "fwd4_ports"));
	/* the forward chain's fixed part: 5 head rules, 6 lookups */
	cr_assert_eq(plan_rule_count(x.plan), plan_rule_count(x.plain) + 11,
		     "%zu vs %zu", plan_rule_count(x.plan), plan_rule_count(x.plain));
	pair_down(&x);
}

/* explain's walk: a forwarded packet meets the forward chain */
Test(forward, simulated_walk)
{
	struct pair x;
	struct plan_sim_pkt k = { .key = { DIR_FWD, AF4, 0x0a4d0015, 0x0a4f000a, KEY(6, 5432) } };
	struct plan_sim_result res;
	struct plan *plan;

	pair_up(&x);
	plan = x.plan;
	cr_assert_eq(plan_sim_run(plan, &k, &res, NULL), 0);
	cr_assert_eq(res.verdict, PV_DROP, "cleartext: dropped");
	cr_assert_eq(res.rule, 1);
	k.secpath = true;
	cr_assert_eq(plan_sim_run(plan, &k, &res, NULL), 0);
	cr_assert_eq(res.verdict, PV_QUEUE, "through IPsec: to sagated");
	k.key.peer = 0x0a4d0042;	/* another source: the forward default */
	cr_assert_eq(plan_sim_run(plan, &k, &res, NULL), 0);
	cr_assert_eq(res.verdict, PV_DROP);
	cr_assert(res.by_policy);
	k.key.key = KEY(6, 80);
	cr_assert_eq(plan_sim_run(plan, &k, &res, NULL), 0);
	cr_assert_eq(res.verdict, PV_ACCEPT);
	cr_assert_eq(res.rule, 2);
	cr_assert_eq(plan_sim_run(x.plain, &k, &res, NULL), 0);
	cr_assert_eq(res.verdict, PV_ACCEPT, "no forward chain: the host forwards");
	cr_assert(res.by_policy);
	pair_down(&x);
}

/* IPv4 / TCP from 10.77.0.21 to 10.79.0.10:5432 */
static size_t fwd_packet(uint8_t *b)
{
	static const uint8_t pkt[40] = {
		0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0,
		10, 77, 0, 21, 10, 79, 0, 10,
		0x9c, 0x40, 0x15, 0x38, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
	};

	memcpy(b, pkt, sizeof(pkt));
	return sizeof(pkt);
}

static struct xfrm_sa tunnel_sa(uint32_t gw, uint32_t spi)
{
	struct xfrm_sa sa;

	memset(&sa, 0, sizeof(sa));
	sa.fam = AF4;
	sa.saddr = gw;
	sa.daddr = 0xc0000201;	/* 192.0.2.1, this host's outer address, not the packet's */
	sa.spi = spi;
	sa.proto = XFRM_PROTO_ESP;
	sa.mode = XFRM_SA_TUNNEL;
	sa.reqid = 9;
	sa.dir = XFRM_SA_IN;
	sa.aead = (struct xfrm_alg){ true, "rfc4106(gcm(aes))", 160, 128, ALG_AES128GCM16 };
	sa.life.add_time = NOW - 100;
	sa.life.soft_bytes = sa.life.hard_bytes = ~0ull;
	sa.life.soft_packets = sa.life.hard_packets = ~0ull;
	sa.sel = (struct xfrm_sel){ true, AF4, 0x0a4d0000, 0x0a4f000a, 16, 32, 0, 0, 0, 0, 0, 0 };
	return sa;
}

/* A packet queued from the forward hook is judged by the forward rules:
 * through a listed gateway's tunnel, accepted; through another's,
 * refused; the same packet taken for an inbound one has no rule */
Test(forward, decided_as_forwarded)
{
	struct policy *p;
	struct classes *c;
	struct plan *plan = compile_text(fwd_text, PLAN_ENGINE, &p, &c);
	struct xfrm_cache *sas = xfrm_cache_alloc();
	struct xfrm_sa good = tunnel_sa(0xc6336401, 0x1000);	/* 198.51.100.1: listed */
	struct xfrm_sa other = tunnel_sa(0xc6336463, 0x2000);	/* 198.51.100.99: not */
	struct decide_ctx ctx = { p, c, NULL, NULL, sas, false, NULL, NULL };
	uint8_t pkt[64];
	size_t len = fwd_packet(pkt);
	struct verdict v;

	cr_assert_not_null(sas);
	cr_assert_eq(xfrm_cache_put(sas, &good), 0);
	cr_assert_eq(xfrm_cache_put(sas, &other), 0);
	v = decide_dir(&ctx, DIR_FWD, pkt, len, htonl(0x1000), NOW);
	cr_assert(v.accept, "reason %s", decide_reason_name(v.reason));
	cr_assert_eq(v.rule, 1);
	cr_assert_eq(v.pkt.key.dir, DIR_FWD);
	v = decide_dir(&ctx, DIR_FWD, pkt, len, htonl(0x2000), NOW);
	cr_assert(!v.accept);
	cr_assert_eq(v.reason, DECIDE_DROP_TUNNEL_GATEWAY, "%s", decide_reason_name(v.reason));
	v = decide(&ctx, pkt, len, htonl(0x1000), NOW);
	cr_assert(!v.accept);
	cr_assert_eq(v.reason, DECIDE_DROP_NO_RULE, "%s", decide_reason_name(v.reason));
	xfrm_cache_free(sas);
	plan_free(plan);
	classes_free(c);
	policy_free(p);
}

/* The bundle keeps forward rules as forward rules, and the default */
Test(forward, bundle_round_trip)
{
	struct policy *p = parse_text(fwd_text);
	json_t *b = bundle_from_policy(p);
	json_t *r1 = json_array_get(json_object_get(b, "rules"), 1);
	char *text;
	struct policy *q;

	cr_assert_not_null(b);
	cr_assert_str_eq(json_string_value(json_object_get(r1, "direction")), "forward");
	cr_assert_not_null(json_object_get(r1, "from"));
	cr_assert_not_null(json_object_get(r1, "to"));
	cr_assert_null(json_object_get(r1, "peers"));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "defaults"), "forward")),
			 "block");
	text = json_dumps(b, 0);
	q = parse_text(text);
	cr_assert(q->forward_covered);
	cr_assert_eq(q->rules[1].dir, DIR_FWD);
	cr_assert(addr_set_equal(&q->rules[1].local, &p->rules[1].local));
	cr_assert(addr_set_equal(&q->rules[1].peers, &p->rules[1].peers));
	free(text);
	json_decref(b);
	policy_free(p);
	policy_free(q);
}

/* A /proc of our own: forwarding as given ("1", "0", or NULL: no file) */
static void fake_proc(const char *root, const char *v4, const char *v6)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s/sys/net/ipv4 %s/sys/net/ipv6/conf/all",
		 root, root, root);
	cr_assert_eq(system(cmd), 0);
	if (v4) {
		snprintf(cmd, sizeof(cmd), "echo %s > %s/sys/net/ipv4/ip_forward", v4, root);
		cr_assert_eq(system(cmd), 0);
	}
	if (v6) {
		snprintf(cmd, sizeof(cmd), "echo %s > %s/sys/net/ipv6/conf/all/forwarding", v6, root);
		cr_assert_eq(system(cmd), 0);
	}
}

static size_t findings(const struct policy *p, const char *proc, const char **msg)
{
	static char last[600];
	struct audit_list l = { 0 };
	size_t n;

	audit_forward(p, proc, &l);
	n = l.n;
	*msg = "";
	if (n) {
		cr_assert_str_eq(l.v[0].kind, "forward-uncovered");
		cr_assert_eq(l.v[0].severity, AUDIT_WARNING);
		snprintf(last, sizeof(last), "%s", l.v[0].message);
		*msg = last;
	}
	audit_list_fini(&l);
	return n;
}

/* check and audit: a warning only where the namespace forwards and the
 * policy leaves forwarding alone */
Test(forward, uncovered_where_forwarding_is_on)
{
	char root[] = "/tmp/sagate-forward-proc-XXXXXX";
	char rm[64];
	struct policy *in_only = parse_text(in_only_text), *fwd = parse_text(fwd_text);
	struct diag_list d;
	const char *msg;
	bool v4, v6;

	cr_assert_not_null(mkdtemp(root));
	fake_proc(root, "1", "0");
	cr_assert_eq(forward_read(root, &v4, &v6), 0);
	cr_assert(v4 && !v6);
	cr_assert_eq(findings(in_only, root, &msg), 1);
	cr_assert(strstr(msg, "forwards IPv4 packets (net.ipv4.ip_forward)"), "%s", msg);
	cr_assert_eq(findings(fwd, root, &msg), 0, "forward rules: covered");
	diag_list_init(&d);
	forward_check(in_only, root, &d);
	cr_assert_eq(d.count, 1);
	cr_assert_eq(d.items[0].severity, DIAG_WARNING);
	diag_list_fini(&d);
	fake_proc(root, "0", "1");
	cr_assert_eq(findings(in_only, root, &msg), 1);
	cr_assert(strstr(msg, "forwards IPv6 packets"), "%s", msg);
	fake_proc(root, "0", "0");
	cr_assert_eq(findings(in_only, root, &msg), 0, "nothing forwards");
	fake_proc(root, NULL, NULL);
	cr_assert_eq(forward_read(root, &v4, &v6), -1);
	cr_assert_eq(findings(in_only, root, &msg), 0, "unreadable: no guess");
	snprintf(rm, sizeof(rm), "rm -rf %s", root);
	cr_assert_eq(system(rm), 0);
	policy_free(in_only);
	policy_free(fwd);
}
