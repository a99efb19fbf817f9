/* revoke: which tracked flows an applied plan ends.  Each flow is judged
 * as its first packet under the new plan, with what its conntrack entry
 * says (addresses after DNAT, the require-ipsec mark and reqid). */
#include "config.h"

#include "audit_util.h"
#include "revoke.h"

/* the new policy: 7001 for the admin only, 7002 require-ipsec, 22 pinned
 * to reqid 42, outbound smtp blocked, the rest of inbound blocked */
static const char policy_text[] =
	"{\"version\": 1, \"defaults\": {\"in\": \"block\", \"out\": \"permit\"}, \"rules\": ["
	" {\"name\": \"svc\", \"action\": \"permit\", \"peers\": [\"10.0.0.30\", \"2001:db8::30\"],"
	"  \"protocol\": \"tcp\", \"ports\": 7001},"
	" {\"name\": \"svc2\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.21\","
	"  \"protocol\": \"tcp\", \"ports\": 7002},"
	" {\"name\": \"pinned\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.6\","
	"  \"protocol\": \"tcp\", \"ports\": 22, \"ipsec\": {\"reqid\": 42}},"
	" {\"name\": \"ping\", \"action\": \"permit\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"icmp\"},"
	" {\"name\": \"no-smtp\", \"action\": \"block\", \"direction\": \"out\", \"protocol\": \"tcp\", \"ports\": 25}"
	"]}";

static struct policy *pol;
static struct classes *cls;
static struct plan *eng, *kern;
/* this host: 10.0.0.1, 2001:db8::1 and loopback */
static struct addr_range locals[4];

static u128 A(const char *s)
{
	struct addr_range r;

	cr_assert_eq(addr_parse(s, &r), 0, "%s", s);
	return r.lo;
}

static void setup(void)
{
	struct compile_opts e = { PLAN_ENGINE, 7 }, k = { PLAN_KERNEL_ONLY, 0 };

	pol = tu_policy(policy_text);
	cls = classify(pol, 0);
	eng = compile_plan(pol, cls, &e);
	kern = compile_plan(pol, cls, &k);
	cr_assert(cls && eng && kern);
	locals[0] = (struct addr_range){ AF4, A("10.0.0.1"), A("10.0.0.1") };
	locals[1] = (struct addr_range){ AF6, A("2001:db8::1"), A("2001:db8::1") };
	locals[2] = (struct addr_range){ AF4, A("127.0.0.0"), A("127.255.255.255") };
	locals[3] = (struct addr_range){ AF6, 1, 1 };
}

static void teardown(void)
{
	plan_free(eng);
	plan_free(kern);
	classes_free(cls);
	policy_free(pol);
}

TestSuite(revoke, .init = setup, .fini = teardown);

static enum revoke_verdict judge(const struct plan *p, const char *src, const char *dst,
				 uint8_t proto, uint16_t dport, uint32_t mark)
{
	struct revoke_flow f = { strchr(src, ':') ? AF6 : AF4, proto, A(src), A(dst), dport, mark };
	struct revoke_result r;
	bool end = revoke_judge(p, pol, locals, 4, &f, &r);

	cr_assert_eq(end, r.verdict == REVOKE_BLOCKED || r.verdict == REVOKE_CLEARTEXT ||
		     r.verdict == REVOKE_OTHER_SA, "%s -> %s: %s", src, dst,
		     revoke_verdict_name(r.verdict));
	return r.verdict;
}

Test(revoke, a_revoked_peer_is_ended_a_permitted_one_kept)
{
	for (int i = 0; i < 2; i++) {
		const struct plan *p = i ? kern : eng;

		cr_expect_eq(judge(p, "10.0.0.21", "10.0.0.1", 6, 7001, 0), REVOKE_BLOCKED);
		cr_expect_eq(judge(p, "10.0.0.30", "10.0.0.1", 6, 7001, 0), REVOKE_KEEP);
		cr_expect_eq(judge(p, "2001:db8::21", "2001:db8::1", 6, 7001, 0), REVOKE_BLOCKED);
		cr_expect_eq(judge(p, "2001:db8::30", "2001:db8::1", 6, 7001, 0), REVOKE_KEEP);
		/* a port no rule names: the inbound default blocks */
		cr_expect_eq(judge(p, "10.0.0.30", "10.0.0.1", 6, 8080, 0), REVOKE_BLOCKED);
		/* protocols without ports: ICMP flows by address and protocol */
		cr_expect_eq(judge(p, "10.0.0.30", "10.0.0.1", 1, 0, 0), REVOKE_KEEP);
		cr_expect_eq(judge(p, "10.9.0.30", "10.0.0.1", 1, 0, 0), REVOKE_BLOCKED);
	}
}

Test(revoke, a_cleartext_flow_whose_port_is_now_require_ipsec_is_ended)
{
	cr_expect_eq(judge(eng, "10.0.0.21", "10.0.0.1", 6, 7002, 0), REVOKE_CLEARTEXT);
	cr_expect_eq(judge(kern, "10.0.0.21", "10.0.0.1", 6, 7002, 0), REVOKE_CLEARTEXT);
	/* bound to an SA by the table (mark bit, reqid 5): the kernel holds
	 * it to that SA; sagated admitted it; it stays */
	cr_expect_eq(judge(eng, "10.0.0.21", "10.0.0.1", 6, 7002, PLAN_CT_MARK_IPSEC | 5), REVOKE_KEEP);
	cr_expect_eq(judge(kern, "10.0.0.21", "10.0.0.1", 6, 7002, PLAN_CT_MARK_IPSEC | 5), REVOKE_KEEP);
}

Test(revoke, a_bound_flow_of_another_reqid_than_the_rule_pins_is_ended)
{
	cr_expect_eq(judge(kern, "10.0.0.6", "10.0.0.1", 6, 22, PLAN_CT_MARK_IPSEC | 42), REVOKE_KEEP);
	cr_expect_eq(judge(kern, "10.0.0.6", "10.0.0.1", 6, 22, PLAN_CT_MARK_IPSEC | 43), REVOKE_OTHER_SA);
	cr_expect_eq(judge(kern, "10.0.0.6", "10.0.0.1", 6, 22, 0), REVOKE_CLEARTEXT);
	/* a bound flow whose port is now blocked is ended like any other */
	cr_expect_eq(judge(kern, "10.0.0.6", "10.0.0.1", 6, 23, PLAN_CT_MARK_IPSEC | 42), REVOKE_BLOCKED);
}

Test(revoke, outbound_flows_are_judged_by_the_outbound_rules)
{
	cr_expect_eq(judge(eng, "10.0.0.1", "192.0.2.7", 6, 25, 0), REVOKE_BLOCKED);
	cr_expect_eq(judge(eng, "10.0.0.1", "192.0.2.7", 6, 443, 0), REVOKE_KEEP);
	cr_expect_eq(judge(eng, "2001:db8::1", "2001:db8:9::7", 6, 25, 0), REVOKE_BLOCKED);
}

Test(revoke, loopback_and_forwarded_flows_are_never_touched)
{
	/* both ends here: over lo */
	cr_expect_eq(judge(eng, "127.0.0.1", "127.0.0.1", 6, 7001, 0), REVOKE_NOT_OURS);
	cr_expect_eq(judge(eng, "127.0.0.1", "127.0.0.53", 17, 53, 0), REVOKE_NOT_OURS);
	cr_expect_eq(judge(eng, "::1", "::1", 6, 7001, 0), REVOKE_NOT_OURS);
	cr_expect_eq(judge(eng, "10.0.0.1", "10.0.0.1", 6, 8080, 0), REVOKE_NOT_OURS);
	/* neither: routed through this host, which the table does not hook */
	cr_expect_eq(judge(eng, "10.0.0.21", "10.0.5.5", 6, 7001, 0), REVOKE_NOT_OURS);
}

Test(revoke, result_carries_the_flow_as_the_policy_sees_it)
{
	struct revoke_flow f = { AF4, 6, A("10.0.0.1"), A("192.0.2.7"), 25, 0 };
	struct revoke_result r;

	cr_assert(revoke_judge(eng, pol, locals, 4, &f, &r));
	cr_expect_eq(r.key.dir, DIR_OUT);
	cr_expect(r.key.peer == A("192.0.2.7") && r.key.local == A("10.0.0.1"));
	cr_expect_eq(r.key.key, KEY(6, 25));
	cr_expect_str_eq(pol->rules[r.rule].name, "no-smtp");
}

/* ct_flows' reading of one conntrack dump message: what the kernel sent
 * is checked, never trusted. */
#include "ct_flows.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

static struct nlmsghdr *ct_msg(char *buf, uint8_t family)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	memset(buf, 0, 4096);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	return nlh;
}

/* a tuple of IPv4 addresses (addr_len 4) or others, TCP ports */
static void put_tuple(struct nlmsghdr *nlh, uint16_t type, const char *src, const char *dst,
		      uint16_t sport, uint16_t dport, size_t addr_len)
{
	struct nlattr *t = mnl_attr_nest_start(nlh, type), *n;
	uint8_t a[16], b[16];
	bool v6 = strchr(src, ':') != NULL;

	cr_assert_eq(inet_pton(v6 ? AF_INET6 : AF_INET, src, a), 1);
	cr_assert_eq(inet_pton(v6 ? AF_INET6 : AF_INET, dst, b), 1);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, addr_len, a);
	mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, addr_len, b);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, 6);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, t);
}

Test(ct_parse, a_plain_flow_with_its_mark_id_and_zone)
{
	char buf[4096];
	struct nlmsghdr *nlh = ct_msg(buf, NFPROTO_IPV4);
	struct ct_flow e;

	put_tuple(nlh, CTA_TUPLE_ORIG, "10.0.0.21", "10.0.0.1", 40000, 7001, 4);
	put_tuple(nlh, CTA_TUPLE_REPLY, "10.0.0.1", "10.0.0.21", 7001, 40000, 4);
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(PLAN_CT_MARK_IPSEC | 7));
	mnl_attr_put_u32(nlh, CTA_ID, htonl(1234));
	mnl_attr_put_u16(nlh, CTA_ZONE, htons(3));
	cr_assert_eq(ct_flow_parse(nlh, &e), 1);
	cr_expect_eq(e.flow.fam, AF4);
	cr_expect_eq(e.flow.proto, 6);
	cr_expect(e.flow.src == A("10.0.0.21") && e.flow.dst == A("10.0.0.1"));
	cr_expect_eq(e.flow.dport, 7001);
	cr_expect_eq(e.sport, 40000);
	cr_expect_eq(e.flow.mark, PLAN_CT_MARK_IPSEC | 7);
	cr_expect(e.has_id && e.id == htonl(1234) && e.has_zone && e.zone == htons(3));
	cr_expect(!e.related);
	cr_expect(e.orig_len > 0 && e.nfproto == NFPROTO_IPV4);
	free(e.orig);
}

Test(ct_parse, dnat_the_destination_is_the_replys_source)
{
	char buf[4096];
	struct nlmsghdr *nlh = ct_msg(buf, NFPROTO_IPV6);
	struct ct_flow e;

	/* sent to [2001:db8::80]:80, redirected to [2001:db8::1]:7001 */
	put_tuple(nlh, CTA_TUPLE_ORIG, "2001:db8::21", "2001:db8::80", 40000, 80, 16);
	put_tuple(nlh, CTA_TUPLE_REPLY, "2001:db8::1", "2001:db8::21", 7001, 40000, 16);
	cr_assert_eq(ct_flow_parse(nlh, &e), 1);
	cr_expect_eq(e.flow.fam, AF6);
	cr_expect(e.flow.dst == A("2001:db8::1"));
	cr_expect_eq(e.flow.dport, 7001);
	cr_expect(e.orig_dst == A("2001:db8::80") && e.orig_dport == 80);
	free(e.orig);
}

Test(ct_parse, a_related_flow_is_its_masters)
{
	char buf[4096];
	struct nlmsghdr *nlh = ct_msg(buf, NFPROTO_IPV4);
	struct ct_flow e;

	put_tuple(nlh, CTA_TUPLE_ORIG, "10.0.0.21", "10.0.0.1", 20, 50000, 4);
	put_tuple(nlh, CTA_TUPLE_REPLY, "10.0.0.1", "10.0.0.21", 50000, 20, 4);
	put_tuple(nlh, CTA_TUPLE_MASTER, "10.0.0.21", "10.0.0.1", 40000, 21, 4);
	cr_assert_eq(ct_flow_parse(nlh, &e), 1);
	cr_expect(e.related);
	cr_expect_eq(e.flow.dport, 21);
	free(e.orig);
}

Test(ct_parse, what_does_not_add_up_is_left_alone)
{
	char buf[4096];
	struct nlmsghdr *nlh;
	struct ct_flow e;

	/* an address of 3 bytes */
	nlh = ct_msg(buf, NFPROTO_IPV4);
	put_tuple(nlh, CTA_TUPLE_ORIG, "10.0.0.21", "10.0.0.1", 40000, 7001, 3);
	cr_expect_eq(ct_flow_parse(nlh, &e), 0);
	/* no original tuple */
	nlh = ct_msg(buf, NFPROTO_IPV4);
	put_tuple(nlh, CTA_TUPLE_REPLY, "10.0.0.1", "10.0.0.21", 7001, 40000, 4);
	cr_expect_eq(ct_flow_parse(nlh, &e), 0);
	/* another family than the message says */
	nlh = ct_msg(buf, NFPROTO_IPV6);
	put_tuple(nlh, CTA_TUPLE_ORIG, "10.0.0.21", "10.0.0.1", 40000, 7001, 4);
	cr_expect_eq(ct_flow_parse(nlh, &e), 0);
	/* a family that is neither */
	nlh = ct_msg(buf, NFPROTO_BRIDGE);
	put_tuple(nlh, CTA_TUPLE_ORIG, "10.0.0.21", "10.0.0.1", 40000, 7001, 4);
	cr_expect_eq(ct_flow_parse(nlh, &e), 0);
	/* a message cut short of its nfgenmsg */
	nlh = ct_msg(buf, NFPROTO_IPV4);
	nlh->nlmsg_len = sizeof(*nlh) + 1;
	cr_expect_eq(ct_flow_parse(nlh, &e), 0);
}

/* Conntrack knows neither the interface a flow came by nor (as read
 * here) its ICMP type: a flow some interface's rule or some ICMP type's
 * rule admits is kept; one no interface and no type admits is ended. */
Test(revoke_matches, flows_an_interface_or_icmp_type_admits_are_kept)
{
	struct policy *p = tu_policy(
		"{\"version\": 1, \"rules\": ["
		" {\"name\": \"ssh-mgmt\", \"action\": \"permit\", \"interfaces\": \"mgmt0\","
		"  \"protocol\": \"tcp\", \"ports\": 22},"
		" {\"name\": \"ping\", \"action\": \"permit\", \"protocol\": \"icmp\","
		"  \"icmp-types\": \"echo-request\"}]}");
	struct compile_opts k = { PLAN_KERNEL_ONLY, 0 };
	struct classes *c = classify(p, 0);
	struct plan *plan = compile_plan(p, c, &k);
	struct addr_range here = { AF4, A("10.0.0.1"), A("10.0.0.1") };
	struct revoke_flow ssh = { AF4, 6, A("10.0.0.30"), A("10.0.0.1"), 22, 0 };
	struct revoke_flow web = { AF4, 6, A("10.0.0.30"), A("10.0.0.1"), 80, 0 };
	struct revoke_flow icmp = { AF4, 1, A("10.0.0.30"), A("10.0.0.1"), 0, 0 };
	struct revoke_result r;

	cr_assert(c && plan);
	cr_expect(!revoke_judge(plan, p, &here, 1, &ssh, &r), "%s", revoke_verdict_name(r.verdict));
	cr_expect_eq(r.rule, 0);
	cr_expect(!revoke_judge(plan, p, &here, 1, &icmp, &r), "%s", revoke_verdict_name(r.verdict));
	cr_expect_eq(r.rule, 1);
	cr_expect(revoke_judge(plan, p, &here, 1, &web, &r));
	cr_expect_eq(r.verdict, REVOKE_BLOCKED);
	plan_free(plan);
	classes_free(c);
	policy_free(p);
}
