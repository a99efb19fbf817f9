/* ike_view's parsers of what charon prints, and audit_ike: a policy's
 * require-ipsec rules against connections, children and CHILD_SAs as
 * list-conns and list-sas describe them. */
#include "audit.h"
#include "audit_util.h"
#include "ike_view.h"

#define NOW 1700001000ull

Test(ike_ts, forms_charon_prints)
{
	struct ike_ts t;

	cr_assert_eq(ike_ts_parse("dynamic", &t), 0);
	cr_assert(t.dynamic);
	cr_assert_eq(t.proto, 0);
	cr_assert_eq(t.port_lo, 0);
	cr_assert_eq(t.port_hi, 65535);

	cr_assert_eq(ike_ts_parse("dynamic[tcp/5432]", &t), 0);
	cr_assert(t.dynamic);
	cr_assert_eq(t.proto, 6);
	cr_assert_eq(t.port_lo, 5432);
	cr_assert_eq(t.port_hi, 5432);

	cr_assert_eq(ike_ts_parse("10.1.0.0/16[udp/1000-2000]", &t), 0);
	cr_assert(!t.dynamic);
	cr_assert_eq(t.addr.fam, AF4);
	cr_assert(t.addr.lo == 0x0a010000 && t.addr.hi == 0x0a01ffff);
	cr_assert_eq(t.proto, 17);
	cr_assert_eq(t.port_lo, 1000);
	cr_assert_eq(t.port_hi, 2000);

	/* charon names a single port by its service, a range that is no
	 * subnet with "..", and a protocol by the protocols database */
	cr_assert_eq(ike_ts_parse("10.0.0.1..10.0.0.9[tcp/ssh]", &t), 0);
	cr_assert(t.addr.lo == 0x0a000001 && t.addr.hi == 0x0a000009);
	cr_assert_eq(t.port_lo, 22);
	cr_assert_eq(ike_ts_parse("fd77::21/128[ipv6-icmp]", &t), 0);
	cr_assert_eq(t.addr.fam, AF6);
	cr_assert_eq(t.proto, 58);
	cr_assert_eq(ike_ts_parse("0.0.0.0/0[0/443]", &t), 0);
	cr_assert_eq(t.proto, 0);
	cr_assert_eq(t.port_lo, 443);
}

Test(ike_ts, rejects_what_it_cannot_read)
{
	struct ike_ts t;
	const char *bad[] = { "", "dynamic[", "dynamic[]", "10.0.0.0/33", "10.0.0.1..", "dynamic[tcp/",
			      "dynamic[nosuchproto]", "dynamic[tcp/nosuchservice]", "dynamic[tcp/70000]",
			      "dynamic[tcp/20-10]", "dynamic[tcp/OPAQUE]", "dynamic[300]", "dynamicx",
			      "10.0.0.1[tcp]x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_expect_eq(ike_ts_parse(bad[i], &t), -1, "accepted \"%s\"", bad[i]);
}

Test(ike_ts, keys)
{
	struct ike_ts t;

	cr_assert_eq(ike_ts_parse("dynamic[tcp/5432]", &t), 0);
	cr_assert(ike_ts_meets_keys(&t, KEY(6, 5432), KEY(6, 5432)));
	cr_assert(ike_ts_meets_keys(&t, KEY(6, 1), KEY(6, 6000)));
	cr_assert(!ike_ts_meets_keys(&t, KEY(6, 22), KEY(6, 22)));
	cr_assert(!ike_ts_meets_keys(&t, KEY(17, 5432), KEY(17, 5432)));
	cr_assert_eq(ike_ts_parse("dynamic", &t), 0);
	cr_assert(ike_ts_meets_keys(&t, KEY(17, 53), KEY(17, 53)));
}

Test(ike_addrs, any_and_names_widen)
{
	struct addr_set s = { 0 };

	cr_assert_eq(ike_addrs_add(&s, "10.0.0.1"), 0);
	cr_assert_eq(ike_addrs_add(&s, "fd00::/64"), 0);
	cr_assert_eq(s.n, 2);
	cr_assert(!s.any);
	cr_assert_eq(ike_addrs_add(&s, "%any"), 0);
	cr_assert(s.any);
	addr_set_fini(&s);
	s = (struct addr_set){ 0 };
	cr_assert_eq(ike_addrs_add(&s, "db.example.org"), 0);
	cr_assert(s.any);
	addr_set_fini(&s);
}

static const char *POLICY =
	"{\"version\": 1, \"defaults\": {\"in\": \"block\", \"out\": \"permit\"},\n"
	" \"rules\": [\n"
	"  {\"name\": \"esp\", \"action\": \"permit\", \"peers\": [\"10.0.0.0/24\"], \"protocol\": \"esp\"},\n"
	"  {\"name\": \"pg\", \"action\": \"require-ipsec\", \"peers\": [\"10.0.0.21\", \"10.0.0.22\"],\n"
	"   \"protocol\": \"tcp\", \"ports\": 5432, \"ipsec\": {\"mode\": \"transport\", \"algorithms\": [\"aes128gcm16\"]}}]}";

/* A connection to remote with one child of mode and selectors. */
static void add_conn(struct ike_view *v, const char *name, const char *const *remote,
		     const char *mode, const char *lts, const char *rts)
{
	struct ike_conn_cfg *c;
	struct ike_child_cfg *ch;

	v->conns = realloc(v->conns, (v->nconns + 1) * sizeof(*v->conns));
	cr_assert_not_null(v->conns);
	c = &v->conns[v->nconns++];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	for (; *remote; remote++)
		cr_assert_eq(ike_addrs_add(&c->remote, *remote), 0);
	cr_assert_eq(addr_set_normalize(&c->remote), 0);
	c->children = calloc(1, sizeof(*ch));
	c->nchildren = 1;
	ch = &c->children[0];
	ch->name = strdup(name);
	ch->mode = strdup(mode);
	ch->local.v = calloc(1, sizeof(struct ike_ts));
	ch->remote.v = calloc(1, sizeof(struct ike_ts));
	ch->local.n = ch->remote.n = 1;
	cr_assert_eq(ike_ts_parse(lts, &ch->local.v[0]), 0);
	cr_assert_eq(ike_ts_parse(rts, &ch->remote.v[0]), 0);
}

static size_t count_kind(const struct audit_list *l, const char *kind, const char **msg)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].kind, kind)) {
			n++;
			if (msg)
				*msg = l->v[i].message;
		}
	return n;
}

Test(audit_ike, covered_rule_has_no_finding)
{
	struct policy *p = tu_policy(POLICY);
	struct ike_view v = { 0 };
	struct audit_list out = { 0 };
	const char *both[] = { "10.0.0.21", "10.0.0.22", NULL };

	add_conn(&v, "app", both, "TRANSPORT", "dynamic[tcp/5432]", "dynamic[tcp]");
	audit_ike(p, &v, NULL, NOW, &out);
	cr_assert_eq(out.n, 0, "unexpected: %s", out.n ? out.v[0].message : "");
	audit_list_fini(&out);
	ike_view_fini(&v);
	policy_free(p);
}

Test(audit_ike, peer_without_connection_is_named)
{
	struct policy *p = tu_policy(POLICY);
	struct ike_view v = { 0 };
	struct audit_list out = { 0 };
	const char *one[] = { "10.0.0.21", NULL }, *msg = NULL;

	add_conn(&v, "app", one, "TRANSPORT", "dynamic[tcp/5432]", "dynamic[tcp]");
	audit_ike(p, &v, NULL, NOW, &out);
	cr_assert_eq(count_kind(&out, "ike-uncovered", &msg), 1);
	cr_assert_not_null(strstr(msg, "10.0.0.22"), "%s", msg);
	cr_assert_null(strstr(msg, "10.0.0.21"), "%s", msg);
	cr_assert_str_eq(out.v[0].rule, "pg");
	audit_list_fini(&out);
	ike_view_fini(&v);
	policy_free(p);
}

Test(audit_ike, child_for_another_port_does_not_cover)
{
	struct policy *p = tu_policy(POLICY);
	struct ike_view v = { 0 };
	struct audit_list out = { 0 };
	const char *both[] = { "10.0.0.21", "10.0.0.22", NULL };

	add_conn(&v, "ssh", both, "TRANSPORT", "dynamic[tcp/22]", "dynamic[tcp]");
	audit_ike(p, &v, NULL, NOW, &out);
	cr_assert_eq(count_kind(&out, "ike-uncovered", NULL), 1);
	audit_list_fini(&out);
	ike_view_fini(&v);
	policy_free(p);
}

Test(audit_ike, tunnel_child_for_a_transport_rule)
{
	struct policy *p = tu_policy(POLICY);
	struct ike_view v = { 0 };
	struct audit_list out = { 0 };
	const char *both[] = { "10.0.0.21", "10.0.0.22", NULL }, *msg = NULL;

	add_conn(&v, "app", both, "TUNNEL", "dynamic[tcp/5432]", "10.0.0.0/24");
	audit_ike(p, &v, NULL, NOW, &out);
	cr_assert_eq(count_kind(&out, "ike-mode", &msg), 1);
	cr_assert_not_null(strstr(msg, "transport"), "%s", msg);
	cr_assert_eq(count_kind(&out, "ike-uncovered", NULL), 1);
	audit_list_fini(&out);
	ike_view_fini(&v);
	policy_free(p);
}

Test(audit_ike, tunnel_only_from_a_listed_gateway)
{
	struct policy *p = tu_policy(
		"{\"version\": 1, \"defaults\": {\"in\": \"block\", \"out\": \"permit\"},\n"
		" \"rules\": [{\"name\": \"site\", \"action\": \"require-ipsec\", \"peers\": [\"10.9.0.0/24\"],\n"
		"   \"protocol\": \"tcp\", \"ports\": 443, \"ipsec\": {\"mode\": \"tunnel\",\n"
		"   \"gateways\": [{\"gateway\": \"192.0.2.1\", \"inner\": [\"10.9.0.0/24\"]}]}}]}");
	struct ike_view v = { 0 };
	struct audit_list out = { 0 };
	const char *gw[] = { "192.0.2.1", NULL }, *other[] = { "192.0.2.7", NULL };

	add_conn(&v, "gw", gw, "TUNNEL", "0.0.0.0/0[tcp/443]", "10.9.0.0/24");
	audit_ike(p, &v, NULL, NOW, &out);
	cr_assert_eq(out.n, 0, "unexpected: %s", out.n ? out.v[0].message : "");
	add_conn(&v, "rogue", other, "TUNNEL", "0.0.0.0/0[tcp/443]", "10.9.0.0/25");
	audit_ike(p, &v, NULL, NOW, &out);
	cr_assert_eq(count_kind(&out, "ike-mode", NULL), 1);
	cr_assert_str_eq(out.v[0].object, "connection rogue child rogue");
	audit_list_fini(&out);
	ike_view_fini(&v);
	policy_free(p);
}

Test(audit_ike, sa_with_refused_algorithm_is_attributed_to_its_child)
{
	struct policy *p = tu_policy(POLICY);
	struct ike_view v = { 0 };
	struct audit_list out = { 0 };
	struct xfrm_cache *c = xfrm_cache_alloc();
	const char *both[] = { "10.0.0.21", "10.0.0.22", NULL }, *msg = NULL;

	add_conn(&v, "app", both, "TRANSPORT", "dynamic[tcp/5432]", "dynamic[tcp]");
	v.sas = calloc(2, sizeof(*v.sas));
	v.nsas = 2;
	v.sas[0] = (struct ike_child_sa){ strdup("app"), strdup("app"), strdup("TRANSPORT"), 0x100, 1, NULL };
	v.sas[1] = (struct ike_child_sa){ strdup("app"), strdup("weak"), strdup("TRANSPORT"), 0x101, 2, NULL };
	tu_sa(c, "10.0.0.21", "10.0.0.1", 0x100, true, NOW);
	tu_sa(c, "10.0.0.22", "10.0.0.1", 0x101, false, NOW);	/* ESP-null */
	audit_ike(p, &v, c, NOW, &out);
	cr_assert_eq(count_kind(&out, "ike-sa-refused", &msg), 1);
	cr_assert_str_eq(out.v[0].object, "connection app child weak SPI 0x00000101");
	cr_assert_str_eq(out.v[0].rule, "pg");
	audit_list_fini(&out);
	ike_view_fini(&v);
	xfrm_cache_free(c);
	policy_free(p);
}
