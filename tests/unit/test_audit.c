/* audit: every policy finding on a policy that has it and one that does
 * not; the SPD parser and coverage; drift of a hand-made snapshot
 * against a compiled plan. */
#include "config.h"

#include "audit.h"
#include "audit_util.h"
#include "bundle.h"
#include "plan_print.h"
#include "xfrm_policy.h"

#define NOW 1700001000ull

static const char *const head = "{\"version\": 1, \"defaults\": {\"in\": \"block\", \"out\": \"permit\"}, \"rules\": [";

static struct policy *pol_of(const char *rules)
{
	char text[4096];

	snprintf(text, sizeof(text), "%s%s]}", head, rules);
	return tu_policy(text);
}

static size_t kinds(const struct audit_list *l, const char *kind, const char *rule)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += strcmp(l->v[i].kind, kind) == 0 &&
		     (!rule || (l->v[i].rule && strcmp(l->v[i].rule, rule) == 0));
	return n;
}

/* audit_policy on rules; returns the count of kind (for rule, or any). */
static size_t policy_kind(const char *rules, const char *kind, const char *rule,
			  enum audit_severity *sev)
{
	struct policy *p = pol_of(rules);
	struct classes *c = classify(p, CLASSIFY_ANALYSE);
	struct audit_list l = { 0 };
	size_t n;

	cr_assert_not_null(c);
	audit_policy(p, c, PLAN_ENGINE, &l);
	cr_assert(!l.oom);
	n = kinds(&l, kind, rule);
	for (size_t i = 0; sev && i < l.n; i++)
		if (strcmp(l.v[i].kind, kind) == 0)
			*sev = l.v[i].severity;
	audit_list_fini(&l);
	classes_free(c);
	policy_free(p);
	return n;
}

Test(audit_policy, contradiction_same_peers_and_ports)
{
	enum audit_severity sev = AUDIT_INFO;

	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22},"
		"{\"name\": \"b\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22}",
		"contradiction", "b", &sev), 1);
	/* the severity check gives it too: a finding, not a rejection */
	cr_assert_eq(sev, AUDIT_WARNING);
	/* said once: not also as shadowed */
	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22},"
		"{\"name\": \"b\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22}",
		"shadowed", "b", NULL), 0);
}

Test(audit_policy, no_contradiction)
{
	/* same action: a shadowed rule, not a contradiction */
	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22},"
		"{\"name\": \"b\", \"action\": \"block\", \"peers\": \"10.0.0.1\", \"protocol\": \"tcp\", \"ports\": 22}",
		"contradiction", NULL, NULL), 0);
	/* different action, but the later rule also covers other ports */
	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22},"
		"{\"name\": \"b\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": \"22-23\"}",
		"contradiction", NULL, NULL), 0);
}

Test(audit_policy, shadowed_and_redundant_from_findings)
{
	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22},"
		"{\"name\": \"b\", \"action\": \"block\", \"peers\": \"10.0.0.1\", \"protocol\": \"tcp\", \"ports\": 22}",
		"shadowed", "b", NULL), 1);
	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"block\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22}",
		"redundant", "a", NULL), 1);
	cr_assert_eq(policy_kind(
		"{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22}",
		"redundant", NULL, NULL), 0);
}

Test(audit_policy, cleartext_wide)
{
	enum audit_severity sev = AUDIT_INFO;

	cr_assert_eq(policy_kind(
		"{\"name\": \"w\", \"action\": \"permit\", \"peers\": \"10.0.0.0/8\", \"protocol\": \"tcp\", \"ports\": 5432}",
		"cleartext-wide", "w", &sev), 1);
	cr_assert_eq(sev, AUDIT_WARNING);
	cr_assert_eq(policy_kind(
		"{\"name\": \"w\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 80}",
		"cleartext-wide", "w", NULL), 1);
	cr_assert_eq(policy_kind(
		"{\"name\": \"w\", \"action\": \"permit\", \"peers\": \"2001:d00::/24\", \"protocol\": \"udp\", \"ports\": 53}",
		"cleartext-wide", "w", NULL), 1);
	/* /16 exactly, a /48, IKE from anyone, ping, require-ipsec: fine */
	cr_assert_eq(policy_kind(
		"{\"name\": \"n\", \"action\": \"permit\", \"peers\": [\"10.1.0.0/16\", \"2001:db8::/48\"], \"protocol\": \"tcp\", \"ports\": 80},"
		"{\"name\": \"ike\", \"action\": \"permit\", \"protocol\": \"udp\", \"ports\": [500, 4500]},"
		"{\"name\": \"ping\", \"action\": \"permit\", \"protocol\": \"icmp\"},"
		"{\"name\": \"r\", \"action\": \"require-ipsec\", \"protocol\": \"tcp\", \"ports\": 22}",
		"cleartext-wide", NULL, NULL), 0);
}

/* The message of the one ipsec-unreachable finding of policy text (NULL
 * when there is none; two fail), and whether it was acknowledged. */
static char *unreachable_of(const char *text, enum plan_mode mode, bool *acked)
{
	struct policy *p = tu_policy(text);
	struct classes *c = classify(p, CLASSIFY_ANALYSE);
	struct audit_list l = { 0 };
	char *msg = NULL;

	cr_assert_not_null(c);
	audit_policy(p, c, mode, &l);
	cr_assert(!l.oom);
	cr_assert_leq(kinds(&l, "ipsec-unreachable", NULL), 1);
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.v[i].kind, "ipsec-unreachable") == 0) {
			cr_assert_eq(l.v[i].severity, AUDIT_WARNING);
			msg = strdup(l.v[i].message);
			if (acked)
				*acked = l.v[i].acknowledged;
		}
	audit_list_fini(&l);
	classes_free(c);
	policy_free(p);
	return msg;
}

#define SSH_RULE "{\"name\": \"ssh\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.0/28\", \"protocol\": \"tcp\", \"ports\": 22}"

/* The first-time admin's policy: only the require-ipsec rule, so the
 * inbound default drops the ESP (and IKE) its SAs need. */
Test(audit_policy, ipsec_unreachable_by_default)
{
	char *m = unreachable_of("{\"version\": 1, \"rules\": [" SSH_RULE "]}", PLAN_ENGINE, NULL);

	cr_assert_str_eq(m, "rules[0]: ESP from 192.0.2.0/28 is dropped by the inbound default (block), and so is ESP in UDP 4500 (NAT-T): no IPsec packet from them can arrive, so this rule admits nothing from them; add a rule that permits \"protocol\": \"esp\" from them; IKE (UDP 500 and 4500) is dropped too: if they negotiate their SAs with this host, permit \"protocol\": \"udp\", \"ports\": [500, 4500] from them as well");
	free(m);
	/* the same in kernel-only mode */
	m = unreachable_of("{\"version\": 1, \"rules\": [" SSH_RULE "]}", PLAN_KERNEL_ONLY, NULL);
	cr_assert_not_null(m);
	free(m);
}

Test(audit_policy, ipsec_unreachable_not_when_esp_or_natt_passes)
{
	/* ESP permitted from them (wider, from anyone, or per protocol any) */
	cr_assert_null(unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"esp\", \"action\": \"permit\", \"peers\": \"192.0.2.0/24\", \"protocol\": \"esp\"}," SSH_RULE "]}",
		PLAN_ENGINE, NULL));
	cr_assert_null(unreachable_of("{\"version\": 1, \"rules\": [" SSH_RULE ","
		"{\"name\": \"all\", \"action\": \"permit\", \"peers\": \"192.0.2.0/28\", \"protocol\": \"any\"}]}",
		PLAN_ENGINE, NULL));
	/* only NAT-T: ESP in UDP 4500 reaches the SA */
	cr_assert_null(unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"natt\", \"action\": \"permit\", \"protocol\": \"udp\", \"ports\": 4500}," SSH_RULE "]}",
		PLAN_ENGINE, NULL));
	/* an inbound default that permits */
	cr_assert_null(unreachable_of("{\"version\": 1, \"defaults\": {\"in\": \"permit\"}, \"rules\": [" SSH_RULE "]}",
		PLAN_ENGINE, NULL));
}

Test(audit_policy, ipsec_unreachable_part_and_by_rule)
{
	/* ESP permitted for the first half; a block of the rest names itself;
	 * IKE is permitted from everyone, so it is not mentioned */
	char *m = unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"ike\", \"action\": \"permit\", \"protocol\": \"udp\", \"ports\": [500, 4500]},"
		"{\"name\": \"esp\", \"action\": \"permit\", \"peers\": \"192.0.2.0/29\", \"protocol\": \"esp\"},"
		SSH_RULE "]}", PLAN_ENGINE, NULL);

	cr_assert_null(m, "UDP 4500 from everyone carries ESP: %s", m);
	/* IKE on UDP 500 passes (before the block): no word of IKE */
	m = unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"esp\", \"action\": \"permit\", \"peers\": \"192.0.2.0/29\", \"protocol\": \"esp\"},"
		"{\"name\": \"ike\", \"action\": \"permit\", \"protocol\": \"udp\", \"ports\": 500},"
		"{\"name\": \"bad\", \"action\": \"block\", \"peers\": \"192.0.2.8/29\"},"
		SSH_RULE "]}", PLAN_ENGINE, NULL);
	cr_assert_str_eq(m, "rules[3]: ESP from 192.0.2.8/29 is dropped by rule \"bad\" (block), and so is ESP in UDP 4500 (NAT-T): no IPsec packet from them can arrive, so this rule admits nothing from them; add, before rule \"bad\", a rule that permits \"protocol\": \"esp\" from them");
	free(m);
}

Test(audit_policy, ipsec_unreachable_outbound_and_gateways)
{
	char *m = unreachable_of("{\"version\": 1, \"defaults\": {\"in\": \"block\", \"out\": \"block\"}, \"rules\": ["
		"{\"name\": \"db\", \"action\": \"require-ipsec\", \"direction\": \"out\", \"peers\": \"2001:db8::10\", \"protocol\": \"tcp\", \"ports\": 5432}]}",
		PLAN_ENGINE, NULL);

	cr_assert_str_eq(m, "rules[0]: ESP to 2001:db8::10 is dropped by the outbound default (block), and so is ESP in UDP 4500 (NAT-T): no IPsec packet to them can leave, so this rule admits nothing to them; add a rule with \"direction\": \"out\" that permits \"protocol\": \"esp\" to them; IKE (UDP 500 and 4500) is dropped too: if they negotiate their SAs with this host, permit \"protocol\": \"udp\", \"ports\": [500, 4500] to them as well");
	free(m);
	/* outbound default permit: nothing to say */
	cr_assert_null(unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"db\", \"action\": \"require-ipsec\", \"direction\": \"out\", \"peers\": \"2001:db8::10\", \"protocol\": \"tcp\", \"ports\": 5432}]}",
		PLAN_ENGINE, NULL));
	/* a tunnel: the gateway's ESP is what counts, not the inner peers' */
	cr_assert_null(unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"esp-gw\", \"action\": \"permit\", \"peers\": \"198.51.100.1\", \"protocol\": \"esp\"},"
		"{\"name\": \"branch\", \"action\": \"require-ipsec\", \"peers\": \"10.9.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22,"
		" \"ipsec\": {\"mode\": \"tunnel\", \"gateways\": [{\"gateway\": \"198.51.100.1\", \"inner\": \"10.9.0.0/24\"}]}}]}",
		PLAN_ENGINE, NULL));
	m = unreachable_of("{\"version\": 1, \"rules\": ["
		"{\"name\": \"esp-branch\", \"action\": \"permit\", \"peers\": \"10.9.0.0/24\", \"protocol\": \"esp\"},"
		"{\"name\": \"branch\", \"action\": \"require-ipsec\", \"peers\": \"10.9.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22,"
		" \"ipsec\": {\"mode\": \"tunnel\", \"gateways\": [{\"gateway\": \"198.51.100.1\", \"inner\": \"10.9.0.0/24\"}]}}]}",
		PLAN_ENGINE, NULL);
	cr_assert_not_null(m);
	cr_assert(strstr(m, "ESP from 198.51.100.1 is dropped"), "%s", m);
	free(m);
}

/* "accept-findings": shown, acknowledged, not counted */
Test(audit_policy, acknowledged_findings)
{
	struct policy *p = tu_policy("{\"version\": 1, \"rules\": ["
		"{\"name\": \"web\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 443, \"accept-findings\": [\"cleartext-wide\"]},"
		"{\"name\": \"ssh\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.0/28\", \"protocol\": \"tcp\", \"ports\": 22,"
		" \"accept-findings\": [\"ipsec-unreachable\", \"redundant\"]}]}");
	struct classes *c = classify(p, CLASSIFY_ANALYSE);
	struct audit_list l = { 0 };

	audit_policy(p, c, PLAN_ENGINE, &l);
	cr_assert_eq(l.n, 2);
	cr_assert(l.v[0].acknowledged && l.v[1].acknowledged);
	cr_assert_eq(audit_max_severity(&l), -1);
	audit_list_fini(&l);
	classes_free(c);
	policy_free(p);
}

/* family-counterpart: the groups come from the policy file and its includes */
static size_t family_kind(const char *rules, const char *rule)
{
	char dir[] = "/tmp/sagate-fam-XXXXXX", path[64], inc[96];
	struct audit_list l = { 0 };
	struct diag_list d;
	struct policy *p;
	size_t n;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(inc, sizeof(inc), "%s/hosts.json", dir);
	cr_assert_not_null(f = fopen(inc, "w"));
	fputs("{\"version\": 1, \"hosts\": {\"db\": [\"10.0.0.5\", \"2001:db8::5\"], "
	      "\"site\": [\"@db\", \"10.9.0.0/16\"], \"v4only\": \"10.1.0.1\"}}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/p.json", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "{\"version\": 1, \"include\": [\"hosts.json\"], \"rules\": [%s]}", rules);
	fclose(f);
	diag_list_init(&d);
	p = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "?");
	audit_families(p, &l);
	n = kinds(&l, "family-counterpart", rule);
	if (n)
		cr_assert(strstr(l.v[0].message, "host group \"db\""), "%s", l.v[0].message);
	audit_list_fini(&l);
	diag_list_fini(&d);
	policy_free(p);
	unlink(path);
	unlink(inc);
	rmdir(dir);
	return n;
}

Test(audit_policy, family_counterpart)
{
	cr_assert_eq(family_kind("{\"name\": \"r\", \"action\": \"permit\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 5432}", "r"), 1);
	cr_assert_eq(family_kind("{\"name\": \"r\", \"action\": \"permit\", \"peers\": \"2001:db8::5\", \"protocol\": \"tcp\", \"ports\": 5432}", "r"), 1);
	/* both families, a group of one family, other hosts, ICMP: fine */
	cr_assert_eq(family_kind("{\"name\": \"r\", \"action\": \"permit\", \"peers\": \"@db\", \"protocol\": \"tcp\", \"ports\": 5432}", NULL), 0);
	cr_assert_eq(family_kind("{\"name\": \"r\", \"action\": \"permit\", \"peers\": \"10.1.0.1\", \"protocol\": \"tcp\", \"ports\": 5432}", NULL), 0);
	cr_assert_eq(family_kind("{\"name\": \"r\", \"action\": \"permit\", \"peers\": \"192.0.2.1\", \"protocol\": \"tcp\", \"ports\": 5432}", NULL), 0);
	cr_assert_eq(family_kind("{\"name\": \"r\", \"action\": \"permit\", \"peers\": \"10.0.0.5\", \"protocol\": \"icmp\"}", NULL), 0);
}

/* The policy read back from the bundle of path (as apply records it),
 * without its "hosts" when old: as bundles were written before they kept
 * the groups. */
static struct policy *bundled(const char *path, const char *dir, bool old)
{
	char bpath[96];
	struct diag_list d;
	struct policy *p, *b;
	json_t *j;

	diag_list_init(&d);
	p = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "?");
	cr_assert_not_null(j = bundle_from_policy(p));
	if (old)
		cr_assert_eq(json_object_del(j, "hosts"), 0);
	snprintf(bpath, sizeof(bpath), "%s/bundle.json", dir);
	cr_assert_eq(json_dump_file(j, bpath, 0), 0);
	json_decref(j);
	policy_free(p);
	b = parse_policy_file(bpath, NULL, &d);
	cr_assert_not_null(b, "%s", d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	unlink(bpath);
	return b;
}

/* The applied policy is its bundle: what a rule acknowledges stays
 * acknowledged there. */
Test(audit_policy, acknowledged_in_the_bundle)
{
	char dir[] = "/tmp/sagate-ack-XXXXXX", src[64];
	struct policy *b;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/p.json", dir);
	cr_assert_not_null(f = fopen(src, "w"));
	fputs("{\"version\": 1, \"rules\": [{\"name\": \"web\", \"action\": \"permit\", \"protocol\": \"tcp\","
	      " \"ports\": 443, \"accept-findings\": [\"redundant\", \"cleartext-wide\"]}]}", f);
	fclose(f);
	b = bundled(src, dir, false);
	cr_assert_eq(b->rules[0].accepted, (1u << FIND_REDUNDANT) | (1u << FIND_CLEARTEXT_WIDE));
	policy_free(b);
	unlink(src);
	rmdir(dir);
}

/* family-counterpart of the applied policy, a bundle: its groups are
 * those recorded, not those of the files it came from, edited or
 * deleted since; of two that fit, the rule is told about the first read
 * (the policy file's own before its includes'), as for the files
 * themselves.  A bundle without groups gives none and reads nothing. */
Test(audit_policy, family_counterpart_of_a_bundle)
{
	char dir[] = "/tmp/sagate-fam-XXXXXX", src[64], inc[64];
	struct audit_list l = { 0 };
	struct policy *b, *old;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(inc, sizeof(inc), "%s/hosts.json", dir);
	cr_assert_not_null(f = fopen(inc, "w"));
	fputs("{\"version\": 1, \"hosts\": {\"aa\": [\"10.0.0.5\", \"2001:db8::5\"]}}", f);
	fclose(f);
	snprintf(src, sizeof(src), "%s/p.json", dir);
	cr_assert_not_null(f = fopen(src, "w"));
	fputs("{\"version\": 1, \"include\": [\"hosts.json\"], \"hosts\": {\"zz\": "
	      "[\"2001:db8::5\", \"10.0.0.5\"]}, \"rules\": [{\"name\": \"r\", \"action\": "
	      "\"permit\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 5432}]}", f);
	fclose(f);
	b = bundled(src, dir, false);
	old = bundled(src, dir, true);
	cr_assert_not_null(f = fopen(inc, "w"));
	fputs("{\"version\": 1, \"hosts\": {\"edited\": [\"10.0.0.5\", \"2001:db8::9\"]}}", f);
	fclose(f);
	unlink(src);

	audit_families(b, &l);
	cr_assert_eq(kinds(&l, "family-counterpart", "r"), 1);
	cr_assert(strstr(l.v[0].message, "host group \"zz\""), "%s", l.v[0].message);
	cr_assert(strstr(l.v[0].message, "(2001:db8::5)"), "%s", l.v[0].message);
	audit_list_fini(&l);

	memset(&l, 0, sizeof(l));
	cr_assert_eq(old->ngroups, 0);
	audit_families(old, &l);
	cr_assert_eq(l.n, 0);
	audit_list_fini(&l);
	unlink(inc);
	rmdir(dir);
	policy_free(b);
	policy_free(old);
}

/* ------------------------------------------------------------------ */
/* SPD */

static void put_policy(char *buf, size_t len, const char *src, uint8_t plen, uint8_t dir,
		       size_t ntmpl, bool optional)
{
	struct xfrm_userpolicy_info info;
	struct xfrm_user_tmpl t[2];
	struct nlmsghdr *nlh;

	memset(buf, 0, len);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_NEWPOLICY;
	memset(&info, 0, sizeof(info));
	info.sel.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	tu_xaddr(&info.sel.saddr, src);
	info.sel.prefixlen_s = plen;
	info.dir = dir;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(info)), &info, sizeof(info));
	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < ntmpl; i++) {
		t[i].id.proto = 50;
		t[i].mode = XFRM_MODE_TRANSPORT;
		t[i].reqid = 7;
		t[i].optional = optional;
	}
	if (ntmpl)
		mnl_attr_put(nlh, XFRMA_TMPL, ntmpl * sizeof(t[0]), t);
}

Test(xfrm_policy, parse)
{
	_Alignas(8) char buf[1024];
	struct xfrm_spd p;
	struct diag_list why = { 0 };

	put_policy(buf, sizeof(buf), "192.0.2.0", 24, XFRM_POLICY_IN, 2, true);
	cr_assert_eq(xfrm_parse_policy((struct nlmsghdr *)buf, &p, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(p.ntmpl, 2);
	cr_assert(p.tmpl[0].optional);
	cr_assert_eq(p.tmpl[0].reqid, 7);
	cr_assert_eq(p.tmpl[0].mode, XFRM_SA_TRANSPORT);
	cr_assert(!xfrm_spd_requires(&p));
	cr_assert(xfrm_spd_covers_peer(&p, AF4, 0xc0000205));
	cr_assert(!xfrm_spd_covers_peer(&p, AF4, 0xc0000305));
	cr_assert(!xfrm_spd_covers_peer(&p, AF6, 0));
}

Test(xfrm_policy, rejects_bad_messages)
{
	_Alignas(8) char buf[1024];
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct xfrm_spd p;
	struct diag_list why = { 0 };

	put_policy(buf, sizeof(buf), "192.0.2.0", 24, XFRM_POLICY_IN, 1, false);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 8;	/* shorter than xfrm_userpolicy_info */
	cr_assert_eq(xfrm_parse_policy(nlh, &p, &why), -1);
	cr_assert(strstr(diag_last(&why), "shorter"), "%s", diag_last(&why));
	put_policy(buf, sizeof(buf), "192.0.2.0", 40, XFRM_POLICY_IN, 1, false);
	cr_assert_eq(xfrm_parse_policy(nlh, &p, &why), -1);
	cr_assert(strstr(diag_last(&why), "prefix"), "%s", diag_last(&why));
	put_policy(buf, sizeof(buf), "192.0.2.0", 24, XFRM_POLICY_IN, 1, false);
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	cr_assert_eq(xfrm_parse_policy(nlh, &p, &why), -1);
	cr_assert_eq(why.errors, 3, "one reason per rejected message");
	diag_list_fini(&why);
}

static size_t spd_kind(const char *src, uint8_t plen, uint8_t dir, bool optional, const char *kind)
{
	_Alignas(8) char buf[1024];
	struct policy *p = pol_of("{\"name\": \"r\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.8/30\", \"protocol\": \"tcp\", \"ports\": 22}");
	struct xfrm_spd_list spd = { 0 };
	struct xfrm_spd e;
	struct audit_list l = { 0 };
	struct diag_list why = { 0 };
	size_t n;

	if (src) {
		put_policy(buf, sizeof(buf), src, plen, dir, 1, optional);
		cr_assert_eq(xfrm_parse_policy((struct nlmsghdr *)buf, &e, &why), 0);
		spd.v = &e;
		spd.n = 1;
	}
	audit_spd(p, &spd, &l);
	n = kinds(&l, kind, "r");
	audit_list_fini(&l);
	policy_free(p);
	return n;
}

Test(audit_spd, missing_optional_required)
{
	cr_assert_eq(spd_kind(NULL, 0, 0, false, "spd-missing"), 1);
	cr_assert_eq(spd_kind("192.0.2.0", 24, XFRM_POLICY_OUT, false, "spd-missing"), 1);
	cr_assert_eq(spd_kind("192.0.2.8", 31, XFRM_POLICY_IN, false, "spd-missing"), 1);	/* half */
	cr_assert_eq(spd_kind("192.0.2.0", 24, XFRM_POLICY_IN, true, "spd-optional"), 1);
	cr_assert_eq(spd_kind("192.0.2.0", 24, XFRM_POLICY_IN, true, "spd-missing"), 0);
	cr_assert_eq(spd_kind("192.0.2.0", 24, XFRM_POLICY_IN, false, "spd-missing"), 0);
	cr_assert_eq(spd_kind("192.0.2.0", 24, XFRM_POLICY_IN, false, "spd-optional"), 0);
}

/* ------------------------------------------------------------------ */
/* drift: a snapshot built from the plan itself, then changed */

static char **strs(size_t n)
{
	return calloc(n ? n : 1, sizeof(char *));
}

static void snap_from_plan(const struct plan *pl, const struct policy *p, struct nft_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->present = true;
	s->comment = strdup(pl->comment);
	s->chains = calloc(pl->nchains, sizeof(*s->chains));
	s->nchains = pl->nchains;
	for (size_t i = 0; i < pl->nchains; i++) {
		const struct plan_chain *c = &pl->chains[i];
		struct snap_chain *sc = &s->chains[i];

		sc->family = strdup("inet");
		sc->table = strdup("sagate");
		sc->name = strdup(c->name);
		sc->has_hook = c->hook != PH_NONE;
		sc->hooknum = c->hook == PH_INPUT ? 1 : 3;
		sc->policy_drop = c->policy_drop;
		sc->comments = strs(c->nrules);
		sc->nrules = c->nrules;
		for (size_t k = 0; k < c->nrules; k++) {
			char buf[64] = "", v[96], sig[256];

			for (size_t j = 0; j < c->rules[k].nstmts; j++)
				if (c->rules[k].stmts[j].kind == PS_VMAP)
					snprintf(buf, sizeof(buf), "vmap @%s", c->rules[k].stmts[j].str);
			plan_format_verdict(v, sizeof(v), &c->rules[k].verdict);
			snprintf(sig, sizeof(sig), "%s%s%s",
				 c->rules[k].comment ? c->rules[k].comment : buf, *v ? " -> " : "", v);
			sc->comments[k] = strdup(sig);
		}
	}
	s->sets = calloc(pl->nsets, sizeof(*s->sets));
	s->nsets = pl->nsets;
	for (size_t i = 0; i < pl->nsets; i++) {
		s->sets[i].name = strdup(pl->sets[i].name);
		s->sets[i].comments = strs(pl->sets[i].nelems + 1);
		s->sets[i].nelems = pl->sets[i].nelems;
		for (size_t k = 0; k < pl->sets[i].nelems; k++)
			s->sets[i].comments[k] = strdup(p->rules[pl->sets[i].elems[k].rule].name);
	}
}

struct drift_fx {
	struct policy *p;
	struct classes *c;
	struct plan *pl;
	struct nft_snap s;
	struct audit_list l;
};

static void drift_setup(struct drift_fx *f)
{
	struct compile_opts co = { PLAN_KERNEL_ONLY, 0, 0 };

	f->p = pol_of("{\"name\": \"ssh\", \"action\": \"permit\", \"peers\": \"10.0.0.0/24\", \"protocol\": \"tcp\", \"ports\": 22},"
		      "{\"name\": \"db\", \"action\": \"require-ipsec\", \"peers\": \"10.0.1.5\", \"protocol\": \"tcp\", \"ports\": 5432}");
	f->c = classify(f->p, 0);
	f->pl = compile_plan(f->p, f->c, &co);
	cr_assert_not_null(f->pl);
	snap_from_plan(f->pl, f->p, &f->s);
	memset(&f->l, 0, sizeof(f->l));
}

static void drift_fini(struct drift_fx *f)
{
	audit_list_fini(&f->l);
	nft_snap_fini(&f->s);
	plan_free(f->pl);
	classes_free(f->c);
	policy_free(f->p);
}

Test(audit_drift, clean_then_each_change)
{
	struct drift_fx f;
	struct snap_set *set = NULL;

	drift_setup(&f);
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(f.l.n, 0, "clean snapshot: %s", f.l.n ? f.l.v[0].message : "");

	for (size_t i = 0; i < f.s.nsets && !set; i++)
		if (f.s.sets[i].nelems)
			set = &f.s.sets[i];
	cr_assert_not_null(set);
	set->comments[set->nelems++] = strdup("");		/* an element added by hand */
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "drift-element-added", NULL), 1);
	cr_assert_eq(f.l.v[0].severity, AUDIT_ERROR);
	free(set->comments[--set->nelems]);
	free(set->comments[--set->nelems]);		/* and one removed */
	audit_list_fini(&f.l);
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "drift-element-removed", NULL), 1);
	cr_assert_eq(kinds(&f.l, "drift-element-added", NULL), 0);

	free(f.s.comment);
	f.s.comment = strdup("sagate policy other.json sha256 0123456789abcdef");
	free(f.s.chains[0].comments[--f.s.chains[0].nrules]);
	audit_list_fini(&f.l);
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "digest-mismatch", NULL), 1);
	cr_assert_eq(kinds(&f.l, "drift-rule-removed", NULL), 1);

	f.s.present = false;
	audit_list_fini(&f.l);
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "table-missing", NULL), 1);
	cr_assert_eq(f.l.n, 1);
	drift_fini(&f);
}

Test(audit_drift, chain_rule_verdict_changed)
{
	struct drift_fx f;
	struct snap_chain *in = NULL;

	drift_setup(&f);
	for (size_t i = 0; i < f.s.nchains && !in; i++)
		if (strcmp(f.s.chains[i].name, "input") == 0)
			in = &f.s.chains[i];
	cr_assert_not_null(in);
	for (size_t k = 0; k < in->nrules; k++) {
		char *arrow = strstr(in->comments[k], " -> drop"), *changed;

		if (arrow) {	/* the first dropping rule now accepts */
			*arrow = '\0';
			cr_assert_gt(asprintf(&changed, "%s -> accept", in->comments[k]), 0);
			free(in->comments[k]);
			in->comments[k] = changed;
			break;
		}
	}
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "drift-rule-removed", NULL), 1);
	cr_assert_eq(kinds(&f.l, "drift-rule-added", NULL), 1);
	drift_fini(&f);
}

Test(audit_drift, foreign_chain_before_ours)
{
	struct drift_fx f;
	struct snap_chain *fc;

	drift_setup(&f);
	f.s.foreign = calloc(1, sizeof(*f.s.foreign));
	f.s.nforeign = 1;
	fc = &f.s.foreign[0];
	fc->family = strdup("ip");
	fc->table = strdup("early");
	fc->name = strdup("input");
	fc->has_hook = true;
	fc->hooknum = 1;
	fc->prio = 10;			/* after ours: fine */
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "foreign-chain-before", NULL), 0);
	fc->prio = -10;			/* before ours, policy accept */
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "foreign-chain-before", NULL), 1);
	cr_assert_eq(f.l.v[f.l.n - 1].severity, AUDIT_WARNING);
	fc->policy_drop = true;		/* drops everything it does not accept; accepts nothing */
	audit_list_fini(&f.l);
	audit_drift(f.pl, f.p, &f.s, &f.l);
	cr_assert_eq(kinds(&f.l, "foreign-chain-before", NULL), 0);
	drift_fini(&f);
}

Test(audit_engine, not_running)
{
	struct drift_fx f;
	struct compile_opts co = { PLAN_ENGINE, 3, 0 };
	struct plan *eng;
	char dir[] = "/tmp/sagate-proc-XXXXXX";

	drift_setup(&f);
	cr_assert_not_null(mkdtemp(dir));
	eng = compile_plan(f.p, f.c, &co);
	audit_engine(f.pl, dir, &f.l);		/* kernel-only: no engine needed */
	cr_assert_eq(f.l.n, 0);
	audit_engine(eng, dir, &f.l);
	cr_assert_eq(kinds(&f.l, "engine-not-running", NULL), 1);
	cr_assert_eq(f.l.v[0].severity, AUDIT_ERROR);
	tu_proc_sagated(dir);
	audit_list_fini(&f.l);
	audit_engine(eng, dir, &f.l);
	cr_assert_eq(kinds(&f.l, "queue-unbound", NULL), 1);
	tu_proc_queues(dir, "    3   4242     0 2 65531     0     0        0  1\n");
	audit_list_fini(&f.l);
	audit_engine(eng, dir, &f.l);
	cr_assert_eq(f.l.n, 0, "%s", f.l.n ? f.l.v[0].message : "");
	tu_proc_rm(dir);
	plan_free(eng);
	drift_fini(&f);
}

Test(audit_usage, sas_in_use)
{
	struct drift_fx f;
	struct xfrm_cache *c = xfrm_cache_alloc();

	drift_setup(&f);
	tu_sa(c, "10.0.1.5", "10.0.0.1", 0x100, true, NOW);
	tu_sa(c, "10.0.1.5", "10.0.0.1", 0x101, false, NOW);	/* ESP-null: not counted */
	audit_usage(f.pl, f.p, NULL, c, NOW, &f.l);
	cr_assert_eq(kinds(&f.l, "sas-in-use", "db"), 1);
	cr_assert(strstr(f.l.v[0].message, "1 SA(s)"), "%s", f.l.v[0].message);
	xfrm_cache_free(c);
	drift_fini(&f);
}

/* A rule that names identities: audit has no identity source, so it
 * counts the SAs that pass every other check, and says so. */
Test(audit_usage, sas_in_use_of_an_identity_rule)
{
	struct audit_list l;
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct policy *p = pol_of("{\"name\": \"db\", \"action\": \"require-ipsec\", \"peers\": \"10.0.1.5\","
				  " \"protocol\": \"tcp\", \"ports\": 5432, \"ipsec\": {\"identities\": \"*.example.org\"}}");

	memset(&l, 0, sizeof(l));
	tu_sa(c, "10.0.1.5", "10.0.0.1", 0x100, true, NOW);
	tu_sa(c, "10.0.1.5", "10.0.0.1", 0x101, false, NOW);	/* ESP-null: not counted */
	audit_usage(NULL, p, NULL, c, NOW, &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].message,
			 "1 SA(s) in the kernel satisfy this rule now, their IKE identities aside (audit cannot see them)");
	audit_list_fini(&l);
	xfrm_cache_free(c);
	policy_free(p);
}

/* Cleartext attempts, as read from the kernel's sets: per source and
 * port, most packets first, with the rule of the class they tried. */
Test(audit_usage, cleartext_attempts)
{
	struct drift_fx f;
	struct nft_attempt v[AUDIT_ATTEMPTS_MAX + 5];
	size_t n = sizeof(v) / sizeof(v[0]);

	drift_setup(&f);
	audit_attempts(f.p, f.c, NULL, 0, &f.l);
	cr_assert_eq(f.l.n, 0);
	memset(v, 0, sizeof(v));
	for (size_t i = 0; i < n; i++) {
		v[i].fam = AF4;
		v[i].src = 0x0a000105;	/* 10.0.1.5: rule db's peer */
		v[i].proto = 6;
		v[i].port = 5432;
		v[i].packets = i + 1;
		v[i].idle_ms = 61500;
	}
	v[3].src = 0x0a000109;		/* no rule has 10.0.1.9: the default's */
	audit_attempts(f.p, f.c, v, 4, &f.l);
	cr_assert_eq(f.l.n, 4);
	cr_assert_eq(kinds(&f.l, "cleartext-attempts", "db"), 3);
	cr_assert_null(f.l.v[0].rule);		/* most packets first: 10.0.1.9's 4 */
	cr_assert_str_eq(f.l.v[0].object, "from 10.0.1.9 to tcp port 5432");
	cr_assert_eq(f.l.v[1].severity, AUDIT_WARNING);
	cr_assert_str_eq(f.l.v[1].object, "from 10.0.1.5 to tcp port 5432");
	cr_assert(strstr(f.l.v[1].message, "3 packet(s)"), "%s", f.l.v[1].message);
	cr_assert(strstr(f.l.v[1].message, "the last 61 s ago"), "%s", f.l.v[1].message);
	audit_list_fini(&f.l);
	audit_attempts(f.p, f.c, v, n, &f.l);
	cr_assert_eq(f.l.n, AUDIT_ATTEMPTS_MAX + 1);
	cr_assert_eq(kinds(&f.l, "cleartext-attempts", NULL), AUDIT_ATTEMPTS_MAX + 1);
	cr_assert_str_eq(f.l.v[AUDIT_ATTEMPTS_MAX].object, "other sources");
	cr_assert(strstr(f.l.v[AUDIT_ATTEMPTS_MAX].message, "5 more source(s) and port(s), 15 packet(s)"),
		  "%s", f.l.v[AUDIT_ATTEMPTS_MAX].message);
	drift_fini(&f);
}
