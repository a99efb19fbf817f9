/* ike_view's parsers of what charon prints, and audit_ike: a policy's
 * require-ipsec rules against connections, children and CHILD_SAs as
 * list-conns and list-sas describe them. */
#include "audit.h"
#include "audit_util.h"
#include "ike_view.h"
#include "vici_dump.h"
#include "vici_view.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

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

/* A list-conn event as charon 5.9 sends it for one connection. */
static void enc_conn(struct vici_enc *e, const char *name, const char *remote, const char *mode,
		     const char *lts)
{
	vici_enc_section(e, name);
	vici_enc_list(e, "local_addrs");
	vici_enc_item(e, "%any");
	vici_enc_list_end(e);
	vici_enc_list(e, "remote_addrs");
	vici_enc_item(e, remote);
	vici_enc_list_end(e);
	vici_enc_kv(e, "version", "IKEv2");
	vici_enc_section(e, "remote-1");
	vici_enc_kv(e, "class", "pre-shared key");
	vici_enc_kv(e, "id", "app1.example.org");
	vici_enc_list(e, "groups");
	vici_enc_list_end(e);
	vici_enc_section_end(e);
	vici_enc_section(e, "children");
	vici_enc_section(e, "pg");
	vici_enc_kv(e, "mode", mode);
	vici_enc_list(e, "local-ts");
	vici_enc_item(e, lts);
	vici_enc_list_end(e);
	vici_enc_list(e, "remote-ts");
	vici_enc_item(e, "dynamic[tcp]");
	vici_enc_list_end(e);
	vici_enc_section_end(e);
	vici_enc_section_end(e);
	vici_enc_section_end(e);
}

static void enc_sa(struct vici_enc *e, const char *spi)
{
	vici_enc_section(e, "app");
	vici_enc_kv(e, "state", "ESTABLISHED");
	vici_enc_kv(e, "remote-id", "app1.example.org");
	vici_enc_section(e, "child-sas");
	vici_enc_section(e, "pg-7");
	vici_enc_kv(e, "name", "pg");
	vici_enc_kv(e, "reqid", "3");
	vici_enc_kv(e, "state", "INSTALLED");
	vici_enc_kv(e, "mode", "TRANSPORT");
	if (spi)
		vici_enc_kv(e, "spi-in", spi);
	vici_enc_section_end(e);
	vici_enc_section_end(e);
	vici_enc_section_end(e);
}

/* Decode what e encoded (its length field skipped) into p. */
static void decode(struct vici_enc *e, struct vici_packet *p)
{
	char err[256];

	cr_assert_eq(vici_enc_end(e), 0);
	cr_assert_eq(vici_packet_parse(e->data + 4, e->len - 4, p, err, sizeof(err)), 0, "%s", err);
	vici_enc_fini(e);
}

Test(vici_view, conns_and_sas_from_charons_events)
{
	struct ike_view v = { 0 };
	struct vici_enc e;
	struct vici_packet p;
	char err[256];

	vici_enc_begin(&e, VICI_EVENT, "list-conn");
	enc_conn(&e, "app", "10.0.0.21", "TRANSPORT", "dynamic[tcp/postgresql]");
	decode(&e, &p);
	cr_assert_eq(vici_view_add_conns(&v, p.msg, err, sizeof(err)), 0, "%s", err);
	vici_packet_fini(&p);
	cr_assert_eq(v.nconns, 1);
	cr_assert_str_eq(v.conns[0].name, "app");
	cr_assert_eq(v.conns[0].remote.n, 1);
	cr_assert(v.conns[0].remote.v[0].lo == 0x0a000015);
	cr_assert_str_eq(v.conns[0].remote_id, "app1.example.org");
	cr_assert_str_eq(v.conns[0].remote_class, "pre-shared key");
	cr_assert_eq(v.conns[0].nchildren, 1);
	cr_assert_str_eq(v.conns[0].children[0].mode, "TRANSPORT");
	cr_assert_eq(v.conns[0].children[0].local.v[0].port_lo, 5432);

	vici_enc_begin(&e, VICI_EVENT, "list-sa");
	enc_sa(&e, "c0ffee01");
	decode(&e, &p);
	cr_assert_eq(vici_view_add_sas(&v, p.msg, err, sizeof(err)), 0, "%s", err);
	vici_packet_fini(&p);
	cr_assert_eq(v.nsas, 1);
	cr_assert_eq(v.sas[0].spi_in, 0xc0ffee01);
	cr_assert_eq(v.sas[0].reqid, 3);
	cr_assert_str_eq(v.sas[0].child, "pg");
	cr_assert_str_eq(v.sas[0].conn, "app");

	/* a CHILD_SA without an inbound SPI (not installed) is left out */
	vici_enc_begin(&e, VICI_EVENT, "list-sa");
	enc_sa(&e, NULL);
	decode(&e, &p);
	cr_assert_eq(vici_view_add_sas(&v, p.msg, err, sizeof(err)), 0, "%s", err);
	vici_packet_fini(&p);
	cr_assert_eq(v.nsas, 1);
	ike_view_fini(&v);
}

Test(vici_view, what_charon_would_not_send_is_refused_whole)
{
	struct ike_view v = { 0 };
	struct vici_enc e;
	struct vici_packet p;
	char err[256];

	vici_enc_begin(&e, VICI_EVENT, "list-conn");
	enc_conn(&e, "app", "10.0.0.21", "TRANSPORT", "dynamic[tcp/postgresql]");
	enc_conn(&e, "bad", "10.0.0.22", "TRANSPORT", "dynamic[tcp/OPAQUE]");
	decode(&e, &p);
	cr_assert_eq(vici_view_add_conns(&v, p.msg, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "connection bad child pg"), "%s", err);
	cr_assert_eq(v.nconns, 1);	/* the good one is kept, nothing half-made */
	vici_packet_fini(&p);

	vici_enc_begin(&e, VICI_EVENT, "list-sa");
	enc_sa(&e, "zz");
	decode(&e, &p);
	cr_assert_eq(vici_view_add_sas(&v, p.msg, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "no SPI"), "%s", err);
	vici_packet_fini(&p);
	ike_view_fini(&v);
}

/* A charon that answers the audit's two queries on a socket of its own. */
static void fake_charon(int lfd, bool garbage)
{
	int fd = accept(lfd, NULL, NULL);

	for (;;) {
		uint8_t hdr[4], buf[4096];
		struct vici_packet p;
		struct vici_enc e;
		char err[128];
		uint32_t len;

		if (recv(fd, hdr, 4, MSG_WAITALL) != 4)
			_exit(0);
		memcpy(&len, hdr, 4);
		len = ntohl(len);
		if (len > sizeof(buf) || recv(fd, buf, len, MSG_WAITALL) != (ssize_t)len ||
		    vici_packet_parse(buf, len, &p, err, sizeof(err)) < 0)
			_exit(1);
		if (p.type == VICI_EVENT_REGISTER || p.type == VICI_EVENT_UNREGISTER) {
			vici_enc_begin(&e, VICI_EVENT_CONFIRM, NULL);
		} else {
			bool conns = !strcmp(p.name, "list-conns");

			vici_enc_begin(&e, VICI_EVENT, conns ? "list-conn" : "list-sa");
			if (conns)
				enc_conn(&e, "app", "10.0.0.21", "TRANSPORT", "dynamic[tcp/5432]");
			else
				enc_sa(&e, "00000100");
			if (vici_enc_end(&e) == 0)
				send(fd, e.data, garbage ? e.len - 1 : e.len, MSG_NOSIGNAL);
			vici_enc_fini(&e);
			if (garbage)
				_exit(0);
			vici_enc_begin(&e, VICI_CMD_RESPONSE, NULL);
		}
		vici_packet_fini(&p);
		if (vici_enc_end(&e) == 0)
			send(fd, e.data, e.len, MSG_NOSIGNAL);
		vici_enc_fini(&e);
	}
}

static pid_t serve(const char *path, bool garbage)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	strcpy(sa.sun_path, path);
	unlink(path);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	if ((pid = fork()) == 0) {
		fake_charon(lfd, garbage);
		_exit(0);
	}
	close(lfd);
	return pid;
}

Test(vici_dump, streams_both_queries)
{
	char path[] = "/tmp/sagate-vici-test.sock";
	struct ike_view v;
	struct diag_list d;
	pid_t pid = serve(path, false);

	diag_list_init(&d);
	cr_assert_eq(vici_dump_view(path, &v, &d), 0, "%s", diag_last(&d));
	cr_assert_eq(v.nconns, 1);
	cr_assert_eq(v.nsas, 1);
	cr_assert_eq(v.sas[0].spi_in, 0x100);
	ike_view_fini(&v);
	diag_list_fini(&d);
	waitpid(pid, NULL, 0);
	unlink(path);
}

Test(vici_dump, a_cut_answer_or_no_socket_is_an_error)
{
	char path[] = "/tmp/sagate-vici-test2.sock";
	struct ike_view v;
	struct diag_list d;
	pid_t pid = serve(path, true);

	diag_list_init(&d);
	cr_assert_eq(vici_dump_view(path, &v, &d), -1);
	cr_assert_eq(v.nconns, 0);
	waitpid(pid, NULL, 0);
	unlink(path);
	cr_assert_eq(vici_dump_view(path, &v, &d), -1);
	cr_assert_not_null(strstr(diag_last(&d), "is charon running"), "%s", diag_last(&d));
	diag_list_fini(&d);
}
