/* ike_conf: the swanctl.conf fragment of a policy's require-ipsec rules,
 * checked line by line for the cases the shipped policies do not have:
 * both families, port ranges, ICMP, forward rules, gateways, algorithm
 * lists, reqid, --local and the rules no child can be made for. */
#include "config.h"

#include "audit_util.h"
#include "ike_conf.h"

static char *out;
static size_t outlen;
static struct diag_list diags;
static struct ike_conf_stats st;

/* the fragment of policy text (rules only) with o, into out */
static int gen(const char *rules, const struct ike_conf_opts *o)
{
	char text[4096];
	struct ike_conf_opts none = { 0 };
	struct policy *p;
	FILE *f;
	int rc;

	snprintf(text, sizeof(text), "{\"version\": 1, \"rules\": [%s]}", rules);
	p = tu_policy(text);
	free(out);
	out = NULL;
	diag_list_fini(&diags);
	diag_list_init(&diags);
	cr_assert_not_null(f = open_memstream(&out, &outlen));
	rc = ike_conf_write(f, p, o ? o : &none, &diags, &st);
	cr_assert_eq(fclose(f), 0);
	policy_free(p);
	return rc;
}

/* out holds line (after its indentation) */
static void has(const char *line)
{
	const char *s = out;
	size_t n = strlen(line);

	while ((s = strstr(s, line))) {
		const char *b = s;

		while (b > out && (b[-1] == '\t'))
			b--;
		if ((b == out || b[-1] == '\n') && (s[n] == '\n' || s[n] == '\0'))
			return;
		s += n;
	}
	cr_assert_fail("no line \"%s\" in:\n%s", line, out);
}

static void hasnt(const char *text)
{
	cr_assert_null(strstr(out, text), "\"%s\" in:\n%s", text, out);
}

/* --local 192.0.2.1 --local 2001:db8::1 */
static struct ike_conf_opts this_host(void)
{
	static struct addr_range l[2];

	cr_assert_eq(addr_parse("192.0.2.1", &l[0]), ADDR_OK);
	cr_assert_eq(addr_parse("2001:db8::1", &l[1]), ADDR_OK);
	return (struct ike_conf_opts){ .local = l, .nlocal = 2 };
}

static void fini(void)
{
	free(out);
	out = NULL;
	diag_list_fini(&diags);
}

TestSuite(ike_conf, .init = NULL, .fini = fini);

Test(ike_conf, both_families_and_port_ranges)
{
	cr_assert_eq(gen("{\"name\": \"web\", \"action\": \"require-ipsec\","
			 " \"peers\": [\"192.0.2.0/24\", \"2001:db8::7\"], \"protocol\": \"tcp\","
			 " \"ports\": [443, \"8000-8080\"], \"ipsec\": {\"reqid\": 9}}", NULL), 0);
	has("web-peers {");
	has("remote_addrs = 192.0.2.0/24, 2001:db8::7");
	has("local_ts = dynamic[tcp/443], dynamic[tcp/8000-8080]");
	has("remote_ts = dynamic[tcp]");
	has("reqid = 9");
	has("mode = transport");
	has("esp_proposals = aes256gcm16-x25519, aes128gcm16-x25519, chacha20poly1305-x25519");
	hasnt("start_action");
	hasnt("local_addrs");
	cr_assert_eq(st.connections, 1);
	cr_assert_eq(st.children, 1);
	cr_assert_eq(diags.count, 0);
}

Test(ike_conf, icmp_of_both_families_one_child_each)
{
	cr_assert_eq(gen("{\"name\": \"ping\", \"action\": \"require-ipsec\","
			 " \"peers\": [\"192.0.2.1\", \"2001:db8::1\"], \"protocol\": [\"icmp\", \"icmpv6\"]}",
			 NULL), 0);
	has("ping-icmp {");
	has("ping-icmpv6 {");
	has("local_ts = dynamic[icmp]");
	has("local_ts = dynamic[ipv6-icmp]");
	cr_assert_eq(st.children, 2);
}

Test(ike_conf, any_protocol_has_no_brackets)
{
	cr_assert_eq(gen("{\"name\": \"all\", \"action\": \"require-ipsec\","
			 " \"peers\": \"10.1.2.3-10.1.2.5\"}", NULL), 0);
	has("all {");
	has("remote_addrs = 10.1.2.3, 10.1.2.4, 10.1.2.5");
	has("local_ts = dynamic");
	has("remote_ts = dynamic");
}

Test(ike_conf, outbound_traps_to_its_peers)
{
	cr_assert_eq(gen("{\"name\": \"db\", \"action\": \"require-ipsec\", \"direction\": \"out\","
			 " \"peers\": [\"10.0.0.10\", \"fd00::10\"], \"protocol\": \"tcp\", \"ports\": 5432,"
			 " \"ipsec\": {\"reqid\": 77}}", NULL), 0);
	has("start_action = trap");
	has("reqid = 77");
	has("local_ts = dynamic[tcp]");
	/* charon traps one family per connection: one connection each */
	has("db-peers-ipv4 {");
	has("db-peers-ipv6 {");
	has("remote_addrs = 10.0.0.10");
	has("remote_addrs = fd00::10");
	has("remote_ts = 10.0.0.10[tcp/5432]");
	has("remote_ts = fd00::10[tcp/5432]");
	cr_assert_eq(st.connections, 2);
	/* the pinned reqid on two children: a warning */
	cr_assert_eq(diags.count, 1);
	cr_assert(strstr(diags.items[0].message, "pins reqid 77 and gets 2 children"), "%s", diags.items[0].message);
}

Test(ike_conf, outbound_to_anyone_splits_by_family)
{
	struct ike_conf_opts o = this_host();
	cr_assert_eq(gen("{\"name\": \"smtp\", \"action\": \"require-ipsec\", \"direction\": \"out\","
			 " \"protocol\": \"tcp\", \"ports\": 25}", &o), 0);
	has("remote_addrs = %any4");
	has("remote_addrs = %any6");
	has("local_addrs = 192.0.2.1");
	has("local_addrs = 2001:db8::1");
	has("remote_ts = 0.0.0.0/0[tcp/25]");
	has("remote_ts = ::/0[tcp/25]");
}

Test(ike_conf, outbound_to_several_peers_traps_wildcard)
{
	cr_assert_eq(gen("{\"name\": \"ssh\", \"action\": \"require-ipsec\", \"direction\": \"out\","
			 " \"peers\": [\"fd00::1\", \"fd00::5\"], \"protocol\": \"tcp\", \"ports\": 22}", NULL), 0);
	has("ssh-peers {");
	has("remote_addrs = %any6");
	has("remote_ts = fd00::1[tcp/22], fd00::5[tcp/22]");
	cr_assert_eq(st.connections, 1);
}

Test(ike_conf, forward_rule_tunnels_from_its_gateway)
{
	cr_assert_eq(gen("{\"name\": \"fwd\", \"action\": \"require-ipsec\", \"direction\": \"forward\","
			 " \"from\": \"10.8.0.0/16\", \"to\": [\"10.9.0.10\", \"fd09::10\"],"
			 " \"protocol\": \"tcp\", \"ports\": 5432,"
			 " \"ipsec\": {\"gateways\": [{\"gateway\": \"192.0.2.40\", \"inner\": \"10.8.1.0/24\"}]}}",
			 NULL), 0);
	has("fwd-gw1 {");
	has("remote_addrs = 192.0.2.40");
	has("fwd {");
	has("mode = tunnel");
	has("local_ts = 10.9.0.10[tcp/5432], fd09::10[tcp/5432]");
	has("remote_ts = 10.8.1.0/24[tcp]");
	hasnt("mode = transport");
	hasnt("start_action");
}

Test(ike_conf, forward_rule_to_any_gets_the_inner_families)
{
	cr_assert_eq(gen("{\"name\": \"fwd\", \"action\": \"require-ipsec\", \"direction\": \"forward\","
			 " \"ipsec\": {\"gateways\": [{\"gateway\": \"192.0.2.40\", \"inner\": \"fd08::/48\"}]}}",
			 NULL), 0);
	has("local_ts = ::/0");
	has("remote_ts = fd08::/48");
}

Test(ike_conf, mode_any_with_gateways_gets_transport_and_tunnel)
{
	struct ike_conf_opts o = this_host();
	cr_assert_eq(gen("{\"name\": \"r\", \"action\": \"require-ipsec\","
			 " \"peers\": [\"10.0.0.0/8\", \"192.0.2.99\"], \"protocol\": \"udp\", \"ports\": 53,"
			 " \"ipsec\": {\"gateways\": [{\"gateway\": \"192.0.2.99\", \"inner\": \"10.5.0.0/16\"},"
			 "  {\"gateway\": \"192.0.2.98\", \"inner\": \"172.16.0.0/12\"}]}}", &o), 0);
	has("r {");
	has("r-gw1 {");
	has("mode = transport");
	has("mode = tunnel");
	has("local_addrs = 192.0.2.1, 2001:db8::1");
	/* tunnel: this host's addresses from --local */
	has("local_ts = 192.0.2.1[udp/53], 2001:db8::1[udp/53]");
	has("remote_ts = 10.5.0.0/16[udp]");
	/* the second gateway may carry none of the peers */
	hasnt("r-gw2");
	cr_assert_eq(diags.count, 1);
	cr_assert(strstr(diags.items[0].message, "gateways[1] may carry none"), "%s", diags.items[0].message);
	cr_assert_eq(st.connections, 2);
}

Test(ike_conf, algorithm_lists)
{
	cr_assert_eq(gen("{\"name\": \"cbc\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.5\","
			 " \"ipsec\": {\"algorithms\": [\"aes128\", \"aes256\", \"sha256\", \"sha512\", \"chacha20poly1305\"]}}",
			 NULL), 0);
	has("esp_proposals = chacha20poly1305-x25519, aes256-aes128-sha512-sha256-x25519");
	cr_assert_eq(gen("{\"name\": \"io\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.5\","
			 " \"ipsec\": {\"encryption\": \"integrity-only-allowed\","
			 "  \"algorithms\": [\"aes256gcm16\", \"null\", \"sha256\"]}}", NULL), 0);
	has("esp_proposals = aes256gcm16-x25519, null-sha256-x25519");
	cr_assert_eq(gen("{\"name\": \"io\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.5\","
			 " \"ipsec\": {\"encryption\": \"integrity-only-allowed\"}}", NULL), 0);
	has("esp_proposals = aes256gcm16-x25519, aes128gcm16-x25519, chacha20poly1305-x25519, null-sha512-sha384-sha256-x25519");
}

Test(ike_conf, cipher_without_integrity_makes_no_child)
{
	cr_assert_eq(gen("{\"name\": \"bare\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.5\","
			 " \"ipsec\": {\"algorithms\": [\"aes128\"]}}", NULL), 0);
	cr_assert_eq(st.children, 0);
	cr_assert_eq(diags.count, 1);
	cr_assert_str_eq(diags.items[0].rule, "bare");
	has("# The policy has no require-ipsec rule that IKE could serve.");
	hasnt("connections {");
}

Test(ike_conf, psk_and_shared_connections)
{
	struct ike_conf_opts o = { .auth = IKE_AUTH_PSK };

	cr_assert_eq(gen("{\"name\": \"a\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.5\","
			 " \"protocol\": \"tcp\", \"ports\": 22},"
			 "{\"name\": \"b\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.5\","
			 " \"protocol\": \"tcp\", \"ports\": 80},"
			 "{\"name\": \"c\", \"action\": \"permit\", \"peers\": \"192.0.2.6\"}", &o), 0);
	has("auth = psk");
	hasnt("auth = pubkey");
	cr_assert_eq(st.connections, 1);
	cr_assert_eq(st.children, 2);
	has("a-peers {");
	hasnt("c-peers");
}

/* A rule's identities become the remote's id, one connection each (a
 * remote section holds one id); peers of the same set without identities
 * keep a connection of their own; an escaped DN is left to sagated. */
Test(ike_conf, identities_are_remote_ids)
{
	gen("{\"name\": \"pg\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 5432,"
	    " \"ipsec\": {\"identities\": [\"C=CH, O=Acme, CN=*\", \"*.app.example.org\", \"san:ops@example.org\","
	    " \"O=Acme\\\\, Inc., CN=x\"]}},"
	    "{\"name\": \"ssh\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 22},"
	    "{\"name\": \"one\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.6\", \"protocol\": \"tcp\", \"ports\": 80,"
	    " \"ipsec\": {\"identities\": \"web.example.org\"}}", NULL);
	cr_assert_eq(st.connections, 6, "%s", out);
	has("pg-peers-id1 {");
	has("id = \"C=CH, O=Acme, CN=*\"");
	has("id = *.app.example.org");
	has("id = ops@example.org");
	has("# not written as id (escaped characters strongSwan's parser may read otherwise): sagated checks \"O=Acme\\, Inc., CN=x\"");
	has("# fill in: cacerts = the CA that issued the peers' certificates (else any CA charon trusts)");
	has("ssh-peers {");
	has("# fill in: id = the identity the peers must prove (else any the CA vouches for)");
	has("one-peers {");
	has("id = web.example.org");
	hasnt("one-peers-id1");
	gen("{\"name\": \"pg\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 5432,"
	    " \"ipsec\": {\"identities\": [\"*\"]}}", &(struct ike_conf_opts){ .auth = IKE_AUTH_PSK });
	has("auth = psk");
	has("id = %any");
}
