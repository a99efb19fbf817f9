/* Parser: every error class gives the exact message at the exact place,
 * and all errors of a file are reported in one run. */
#include "config.h"

#include "parse.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/sagate-parse-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static char *write_file(const char *name, const char *text)
{
	char *path;
	FILE *f;

	cr_assert_neq(asprintf(&path, "%s/%s", dir, name), -1);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Parse text as a policy; it must fail with exactly one error, at path,
 * for rule (or NULL), with exactly this message. */
static void expect_error(const char *text, const char *path, const char *rule,
			 const char *message)
{
	char *file = write_file("p.json", text);
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	cr_assert_null(p, "policy was accepted: %s", text);
	cr_assert_eq(d.errors, 1, "%zu errors for %s (first: %s)", d.errors, text,
		     d.count ? d.items[0].message : "none");
	cr_assert_str_eq(d.items[0].file, file);
	cr_assert_str_eq(d.items[0].path, path);
	if (rule)
		cr_assert_str_eq(d.items[0].rule ? d.items[0].rule : "(none)", rule);
	else
		cr_assert_null(d.items[0].rule, "unexpected rule %s", d.items[0].rule);
	cr_assert_str_eq(d.items[0].message, message);
	diag_list_fini(&d);
	free(file);
}

#define RULE(x) "{\"version\": 1, \"rules\": [" x "]}"

TestSuite(parse, .init = setup, .fini = teardown);

Test(parse, valid_policy_is_accepted)
{
	char *file = write_file("ok.json",
		"{\"version\": 1, \"hosts\": {\"a\": [\"10.0.0.0/8\", \"fd00::1-fd00::9\"]},"
		" \"services\": {\"pg\": {\"protocol\": \"tcp\", \"ports\": [5432, \"6000-6010\"]}},"
		" \"defaults\": {\"in\": \"block\", \"out\": \"block\"},"
		" \"rules\": [{\"name\": \"r1\", \"action\": \"require-ipsec\", \"peers\": \"@a\","
		" \"services\": \"pg\", \"ipsec\": {\"reqid\": 7, \"mode\": \"transport\"}}]}");
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	cr_assert_not_null(p);
	cr_assert_eq(d.count, 0);
	cr_assert_eq(p->nrules, 1);
	cr_assert_eq(p->defaults[DIR_OUT], ACT_BLOCK);
	cr_assert_eq(p->rules[0].nkeys, 2);
	cr_assert_eq(p->rules[0].keys[0].lo, KEY(6, 5432));
	cr_assert_eq(p->rules[0].keys[1].hi, KEY(6, 6010));
	cr_assert_eq(p->rules[0].peers.n, 2);
	cr_assert(p->rules[0].ipsec.has_reqid && p->rules[0].ipsec.reqid == 7);
	cr_assert_eq(p->rules[0].ipsec.algorithms, ALG_DEFAULT_SET);
	cr_assert_eq(strlen(p->sha256), 64);
	policy_free(p);
	diag_list_fini(&d);
	free(file);
}

Test(parse, json_syntax)
{
	expect_error("{\"version\": 1,\n \"rules\": [}", "", NULL,
		     "invalid JSON at line 2, column 12: unexpected token near the text ending there");
}

Test(parse, duplicate_json_key)
{
	expect_error("{\"version\": 1, \"version\": 1, \"rules\": []}", "", NULL,
		     "invalid JSON at line 1, column 24: duplicate object key near the text ending there");
}

/* A file that is not JSON may be anything (/etc/shadow): the message
 * keeps jansson's words, never the file's bytes. */
Test(parse, json_error_quotes_nothing_of_the_file)
{
	expect_error("secret:x:0:0", "", NULL,
		     "invalid JSON at line 1, column 6: '[' or '{' expected near the text ending there");
	expect_error("{\"a\": \"sec\x01ret\"}", "", NULL,
		     "invalid JSON at line 1, column 10: control character near the text ending there");
	expect_error("{\"a\": \"\\uDC00\"}", "", NULL,
		     "invalid JSON at line 1, column 14: invalid Unicode near the text ending there");
	expect_error("{\"a\": \"\xff\"}", "", NULL,
		     "invalid JSON at line 1, column 7: unable to decode byte near the text ending there");
}

/* Only a regular file is read: a device is refused at the include that
 * names it, before it is opened. */
Test(parse, include_of_a_device)
{
	expect_error("{\"version\": 1, \"include\": [\"/dev/null\"], \"rules\": []}",
		     "include[0]", NULL, "/dev/null is not a regular file (a character device)");
}

Test(parse, version)
{
	expect_error("{\"rules\": []}", "version", NULL,
		     "missing \"version\" (expected 1, the only version so far)");
	expect_error("{\"version\": 2, \"rules\": []}", "version", NULL,
		     "unsupported version 2 (this sagate reads version 1)");
}

Test(parse, unknown_top_key)
{
	expect_error("{\"version\": 1, \"rulez\": [], \"rules\": []}", "rulez", NULL,
		     "unknown key \"rulez\" (expected one of: version, description, include, hosts, services, defaults, max-elements, rules); did you mean \"rules\"?");
}

Test(parse, rule_name)
{
	expect_error(RULE("{\"action\": \"permit\"}"), "rules[0].name", NULL,
		     "missing \"name\" (every rule needs a unique name)");
	expect_error(RULE("{\"name\": \"a b\", \"action\": \"permit\"}"), "rules[0].name", NULL,
		     "rule name \"a b\" must be 1-48 letters, digits, '_', '.' or '-', starting with a letter or digit");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\"}, {\"name\": \"a\", \"action\": \"block\"}"),
		     "rules[1].name", "a", "duplicate rule name; first used at rules[0]");
}

Test(parse, action_and_direction)
{
	expect_error(RULE("{\"name\": \"a\"}"), "rules[0].action", "a",
		     "missing \"action\" (expected \"permit\", \"block\" or \"require-ipsec\")");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"allow\"}"), "rules[0].action", "a",
		     "unknown action \"allow\" (expected \"permit\", \"block\" or \"require-ipsec\")");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"direction\": \"inbound\"}"),
		     "rules[0].direction", "a", "unknown direction \"inbound\" (expected \"in\", \"out\" or \"forward\")");
}

Test(parse, unknown_rule_key_and_types)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"port\": 22}"), "rules[0].port", "a",
		     "unknown key \"port\" (expected one of: name, action, direction, peers, local, from, to, protocol, ports, icmp-types, services, ipsec, log, limit, interfaces, comment, accept-findings); did you mean \"ports\"?");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"log\": \"yes\"}"), "rules[0].log", "a",
		     "expected true or false, got a string");
}

Test(parse, addresses)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": [\"10.0.0.256\"]}"),
		     "rules[0].peers[0]", "a",
		     "\"10.0.0.256\" is not an address, CIDR, address range or @host-group");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": [\"10.1.2.3/16\"]}"),
		     "rules[0].peers[0]", "a",
		     "\"10.1.2.3/16\" has host bits set below the prefix (did you mean 10.1.0.0/16?)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"fd00::/129\"}"),
		     "rules[0].peers", "a",
		     "\"fd00::/129\": prefix length must be 0-32 for IPv4, 0-128 for IPv6");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": [\"10.0.0.9-10.0.0.1\"]}"),
		     "rules[0].peers[0]", "a",
		     "range \"10.0.0.9-10.0.0.1\" is reversed: its first address is above its last");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": [\"10.0.0.1-fd00::1\"]}"),
		     "rules[0].peers[0]", "a", "range \"10.0.0.1-fd00::1\" mixes IPv4 and IPv6");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": []}"),
		     "rules[0].peers", "a", "empty list matches nothing (leave the key out to mean any)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"10.0.0.1\", \"local\": \"fd00::1\"}"),
		     "rules[0]", "a", "\"peers\" and \"local\" share no address family: the rule can never match");
}

Test(parse, host_groups)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"@nope\"}"),
		     "rules[0].peers", "a", "undefined host group \"nope\"");
	expect_error("{\"version\": 1, \"hosts\": {\"x\": \"@y\", \"y\": [\"@x\"]}, \"rules\": ["
		     "{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"@x\"}]}",
		     "hosts.x", NULL, "host group \"x\" refers back to itself (a cycle through @x)");
}

Test(parse, ports)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": [0]}"),
		     "rules[0].ports[0]", "a", "port 0 is not a real port (use 1-65535)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 70000}"),
		     "rules[0].ports", "a", "port 70000 is outside 1-65535");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"udp\", \"ports\": [\"20-10\"]}"),
		     "rules[0].ports[0]", "a", "port range 20-10 is reversed (low must come first)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"icmp\", \"ports\": [1]}"),
		     "rules[0].ports", "a", "ports need protocol tcp, udp or sctp; \"icmp\" has no ports");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"ports\": [22]}"),
		     "rules[0].ports", "a", "ports need protocol tcp, udp or sctp; a rule without \"protocol\" has no ports");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"tcpp\"}"),
		     "rules[0].protocol", "a",
		     "unknown protocol \"tcpp\" (expected tcp, udp, icmp, icmpv6, esp, ah, gre, sctp or any); did you mean \"tcp\"?");
}

Test(parse, services)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"services\": \"pg\"}"),
		     "rules[0].services", "a", "undefined service \"pg\"");
	expect_error("{\"version\": 1, \"services\": {\"pg\": {\"protocol\": \"tcp\", \"ports\": 5432}}, \"rules\": ["
		     "{\"name\": \"a\", \"action\": \"permit\", \"services\": \"pg\", \"ports\": [1]}]}",
		     "rules[0].services", "a", "use either \"services\" or \"protocol\"/\"ports\", not both");
}

Test(parse, ipsec_options)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"ipsec\": {}}"), "rules[0].ipsec", "a",
		     "\"ipsec\" options only apply to action \"require-ipsec\"");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"require-ipsec\", \"ipsec\": {\"mode\": \"beet\"}}"),
		     "rules[0].ipsec.mode", "a",
		     "unknown mode \"beet\" (expected \"any\", \"transport\" or \"tunnel\")");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"require-ipsec\", \"ipsec\": {\"algorithms\": [\"des\"]}}"),
		     "rules[0].ipsec.algorithms[0]", "a",
		     "unknown algorithm \"des\" (expected aes128gcm16, aes192gcm16, aes256gcm16, chacha20poly1305, aes128, aes192, aes256, aes128ctr, aes256ctr, sha1, sha256, sha384, sha512 or null)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"require-ipsec\", \"ipsec\": {\"algorithms\": [\"null\", \"sha256\"]}}"),
		     "rules[0].ipsec.algorithms", "a",
		     "\"null\" (ESP without encryption) contradicts encryption \"required\"");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"require-ipsec\", \"ipsec\": {\"mode\": \"tunnel\"}}"),
		     "rules[0].ipsec.gateways", "a",
		     "mode \"tunnel\" needs at least one gateway (who may vouch for whom)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"require-ipsec\", \"ipsec\": {\"reqid\": 0}}"),
		     "rules[0].ipsec.reqid", "a", "reqid 0 is outside 1-4294967295");
}

/* Parse file; return the diags (caller finis). */
static struct diag_list parse_diags(const char *file)
{
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	policy_free(p);
	return d;
}

Test(parse, include_cycle_and_missing)
{
	char *inc = write_file("inc.json", "{\"version\": 1, \"include\": [\"p.json\", \"nope.json\"]}");
	char *pol = write_file("p.json", "{\"version\": 1, \"include\": [\"inc.json\"], \"rules\": []}");
	struct diag_list d = parse_diags(pol);
	char *want;

	cr_assert_eq(d.errors, 2);
	cr_assert_str_eq(d.items[0].file, inc);
	cr_assert_str_eq(d.items[0].path, "include[0]");
	cr_assert_neq(asprintf(&want, "include cycle: %s/p.json is already being read", dir), -1);
	cr_assert_str_eq(d.items[0].message, want, "got %s", d.items[0].message);
	free(want);
	cr_assert_str_eq(d.items[1].path, "include[1]");
	cr_assert_neq(asprintf(&want, "cannot read %s/nope.json: No such file or directory", dir), -1);
	cr_assert_str_eq(d.items[1].message, want, "got %s", d.items[1].message);
	free(want);
	diag_list_fini(&d);
	free(inc);
	free(pol);
}

Test(parse, included_files_hold_no_rules_and_no_duplicates)
{
	char *inc = write_file("inc.json", "{\"version\": 1, \"hosts\": {\"a\": \"10.0.0.1\"}, \"rules\": []}");
	char *pol = write_file("p.json", "{\"version\": 1, \"include\": [\"inc.json\"],"
			       " \"hosts\": {\"a\": \"10.0.0.2\"}, \"rules\": []}");
	struct diag_list d = parse_diags(pol);

	cr_assert_eq(d.errors, 2);
	cr_assert_str_eq(d.items[0].path, "rules");
	cr_assert_str_eq(d.items[0].message,
			 "only the policy file itself may hold rules; included files hold hosts and services");
	cr_assert_str_eq(d.items[1].file, pol);
	cr_assert_str_eq(d.items[1].path, "hosts.a");
	cr_assert(strstr(d.items[1].message, "host group \"a\" is already defined at "),
		  "got %s", d.items[1].message);
	diag_list_fini(&d);
	free(inc);
	free(pol);
}

/* A policy whose rule uses group g0 of a chain n groups deep, g0 holding
 * @g1 and so on, written g0 first or (reversed) last, as p.json; the
 * caller frees the name. */
static char *group_chain_policy(int n, bool reversed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	char *file;

	cr_assert_not_null(f);
	fprintf(f, "{\"version\": 1, \"hosts\": {");
	for (int k = 0; k < n; k++) {
		int i = reversed ? n - 1 - k : k;

		if (i == n - 1)
			fprintf(f, "%s\"g%d\": \"192.0.2.1\"", k ? ", " : "", i);
		else
			fprintf(f, "%s\"g%d\": \"@g%d\"", k ? ", " : "", i, i + 1);
	}
	fprintf(f, "}, \"rules\": [{\"name\": \"a\", \"action\": \"permit\", \"peers\": \"@g0\"}]}");
	fclose(f);
	file = write_file("p.json", text);
	free(text);
	return file;
}

Test(parse, host_group_depth)
{
	for (int reversed = 0; reversed < 2; reversed++) {
		char *file = group_chain_policy(PARSE_MAX_GROUP_DEPTH, reversed);
		struct diag_list d;
		struct policy *p;

		diag_list_init(&d);
		p = parse_policy_file(file, NULL, &d);
		cr_assert_not_null(p, "%d groups deep: %s", PARSE_MAX_GROUP_DEPTH,
				   d.count ? d.items[0].message : "");
		policy_free(p);
		diag_list_fini(&d);
		free(file);
		file = group_chain_policy(PARSE_MAX_GROUP_DEPTH + 1, reversed);
		d = parse_diags(file);
		cr_assert_eq(d.errors, 1);
		/* at the reference that is one too deep as the resolver meets it */
		cr_assert_str_eq(d.items[0].path, reversed ? "hosts.g0" : "hosts.g31");
		cr_assert_str_eq(d.items[0].message,
			"host groups nest deeper than 32: @g0 -> @g1 -> @g2 -> @g3 -> (25 more) -> @g29 -> @g30 -> @g31 -> @g32");
		diag_list_fini(&d);
		free(file);
	}
}

Test(parse, every_error_is_reported)
{
	char *pol = write_file("p.json", RULE(
		"{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": [0, 70000, \"9-1\"]},"
		"{\"name\": \"b\", \"action\": \"nope\", \"peers\": [\"1.2.3.4/8\", \"@x\"]},"
		"{\"name\": \"a\", \"action\": \"block\", \"extra\": 1}"));
	struct diag_list d = parse_diags(pol);

	cr_assert_eq(d.errors, 8, "got %zu errors", d.errors);
	diag_list_fini(&d);
	free(pol);
}

Test(parse, file_size_limit)
{
	struct parse_opts o = { .max_file_size = 64 };
	char *pol = write_file("big.json", RULE("{\"name\": \"a\", \"action\": \"permit\", \"comment\": \"0123456789012345678901234567890123456789\"}"));
	struct diag_list d;

	diag_list_init(&d);
	cr_assert_null(parse_policy_file(pol, &o, &d));
	cr_assert_eq(d.errors, 1);
	cr_assert(strstr(d.items[0].message, "file is larger than the limit of 64 bytes"),
		  "got %s", d.items[0].message);
	diag_list_fini(&d);
	free(pol);
}

/* The policy keeps every host group, used or not, resolved, in reading
 * order: the policy file's, then each include's, depth first. */
Test(parse, host_groups_in_reading_order)
{
	char *a = write_file("a.json", "{\"version\": 1, \"include\": [\"c.json\"],"
		" \"hosts\": {\"a2\": \"10.0.2.0/24\", \"a1\": [\"@c\", \"fd00::1\"]}}");
	char *b = write_file("b.json", "{\"version\": 1, \"hosts\": {\"b\": \"10.0.3.1\"}}");
	char *c = write_file("c.json", "{\"version\": 1, \"hosts\": {\"c\": \"10.0.4.1\"}}");
	char *file = write_file("p.json", "{\"version\": 1, \"include\": [\"a.json\", \"b.json\"],"
		" \"hosts\": {\"own\": \"10.0.1.1\"}, \"rules\": []}");
	static const char *const want[] = { "own", "a2", "a1", "c", "b" };
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "?");
	cr_assert_eq(p->ngroups, 5);
	for (size_t i = 0; i < p->ngroups; i++)
		cr_assert_str_eq(p->groups[i].name, want[i], "group %zu", i);
	cr_assert_eq(p->groups[2].set.n, 2, "a1 holds @c and its own address");
	cr_assert_eq(p->groups[2].set.v[0].fam, AF4);
	cr_assert_eq(p->groups[2].set.v[1].fam, AF6);
	policy_free(p);
	diag_list_fini(&d);
	free(file);
	free(a);
	free(b);
	free(c);
}

/* the protocol names the parser accepts are the model's, both ways */
Test(model, proto_names_both_ways)
{
	static const char *const names[] = { "icmp", "tcp", "udp", "gre", "esp", "ah", "icmpv6", "sctp" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = model_proto_number(names[i]);

		cr_assert_geq(n, 0, "%s", names[i]);
		cr_assert_str_eq(model_proto_name((unsigned)n), names[i]);
	}
	cr_assert_eq(model_proto_number("any"), -1);
	cr_assert_eq(model_proto_number("TCP"), -1);
	cr_assert_null(model_proto_name(0));
	cr_assert_null(model_proto_name(255));
}

/* s repeated n times; the caller frees it. */
static char *rep(const char *s, int n)
{
	size_t len = strlen(s);
	char *out = malloc(len * (size_t)n + 1);

	cr_assert_not_null(out);
	for (int i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	out[len * (size_t)n] = '\0';
	return out;
}

Test(diag, user_text_is_cut_by_characters)
{
	char *a70 = rep("a", 70), *a64 = rep("a", 64), *e65 = rep("\xc3\xa9", 65);
	char *e64 = rep("\xc3\xa9", 64), *w300 = rep("w", 300), *w256 = rep("w", 256);
	char *want;
	struct diag_list d;

	diag_list_init(&d);
	diag_add(&d, DIAG_ERROR, "f.json", e65, a70, "name \"%s\" in %s and \"%s\"", a70, w300, "ok");
	cr_assert_neq(asprintf(&want, "%s...", e64), -1);
	cr_assert_str_eq(d.items[0].path, want);	/* 64 characters, 128 bytes */
	free(want);
	cr_assert_neq(asprintf(&want, "%s...", a64), -1);
	cr_assert_str_eq(d.items[0].rule, want);
	free(want);
	cr_assert_neq(asprintf(&want, "name \"%s...\" in %s... and \"ok\"", a64, w256), -1);
	cr_assert_str_eq(d.items[0].message, want);
	free(want);
	/* short text, dots in paths and quotes without a partner stay as they are */
	diag_add(&d, DIAG_ERROR, "f.json", "hosts.a.b[2]", "r", "a \"b\" c\" %s", a64);
	cr_assert_str_eq(d.items[1].path, "hosts.a.b[2]");
	cr_assert_str_eq(d.items[1].rule, "r");
	cr_assert_neq(asprintf(&want, "a \"b\" c\" %s", a64), -1);
	cr_assert_str_eq(d.items[1].message, want);
	free(want);
	diag_list_fini(&d);
	free(a70), free(a64), free(e65), free(e64), free(w300), free(w256);
}

Test(diag, last_message)
{
	struct diag_list d;

	diag_list_init(&d);
	cr_assert_str_eq(diag_last(&d), "");
	diag_add(&d, DIAG_ERROR, "xfrm", "", NULL, "first %d", 1);
	diag_add(&d, DIAG_WARNING, "f.json", "rules[0]", "r", "second");
	cr_assert_str_eq(diag_last(&d), "second");
	diag_list_fini(&d);
	cr_assert_str_eq(diag_last(&d), "");
}

/* "icmp-types": each type a key of its protocol, in rules and services;
 * a name both ICMPs know counts for each listed protocol. */
Test(parse, icmp_types_become_keys)
{
	char *file = write_file("icmp.json",
		"{\"version\": 1, \"services\": {\"pmtu\": {\"protocol\": \"icmpv6\","
		" \"icmp-types\": [\"packet-too-big\"]}},"
		" \"rules\": [{\"name\": \"ping\", \"action\": \"permit\","
		" \"protocol\": [\"icmp\", \"icmpv6\"], \"icmp-types\": [\"echo-request\", \"time-exceeded\"]},"
		" {\"name\": \"pmtu\", \"action\": \"permit\", \"services\": \"pmtu\"},"
		" {\"name\": \"num\", \"action\": \"permit\", \"protocol\": \"icmp\", \"icmp-types\": 30}]}");
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "");
	cr_assert_eq(p->rules[0].nkeys, 4);
	cr_assert_eq(p->rules[0].keys[0].lo, KEY(1, 8));
	cr_assert_eq(p->rules[0].keys[1].lo, KEY(1, 11));
	cr_assert_eq(p->rules[0].keys[2].lo, KEY(58, 3));
	cr_assert_eq(p->rules[0].keys[3].hi, KEY(58, 128));
	cr_assert_eq(p->rules[1].nkeys, 1);
	cr_assert_eq(p->rules[1].keys[0].lo, KEY(58, 2));
	cr_assert_eq(p->rules[1].keys[0].hi, KEY(58, 2));
	cr_assert_eq(p->rules[2].keys[0].lo, KEY(1, 30));
	policy_free(p);
	diag_list_fini(&d);
	free(file);
}

Test(parse, icmp_types_errors)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"udp\", \"icmp-types\": [0]}"),
		     "rules[0].icmp-types", "a",
		     "\"icmp-types\" needs protocol \"icmp\" or \"icmpv6\" (or both), not \"udp\"");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"icmp-types\": [0]}"),
		     "rules[0].icmp-types", "a",
		     "\"icmp-types\" needs \"protocol\": \"icmp\", \"icmpv6\" or both");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"icmpv6\", \"icmp-types\": [\"echo-reqest\"]}"),
		     "rules[0].icmp-types[0]", "a",
		     "unknown icmpv6 type \"echo-reqest\" (did you mean \"echo-request\"?)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"protocol\": \"icmp\", \"icmp-types\": \"redirect\", \"ports\": [1]}"),
		     "rules[0].ports", "a",
		     "ports need protocol tcp, udp or sctp; ICMP has \"icmp-types\" instead");
}

/* "limit": rate text, burst, the defaults, and a bundle keeps it. */
Test(parse, limit_is_read)
{
	char *file = write_file("limit.json",
		"{\"version\": 1, \"rules\": [{\"name\": \"ssh\", \"action\": \"permit\","
		" \"protocol\": \"tcp\", \"ports\": [22], \"limit\": {\"rate\": \"6/minute\", \"burst\": 3}},"
		" {\"name\": \"web\", \"action\": \"permit\", \"direction\": \"forward\","
		" \"protocol\": \"tcp\", \"ports\": [80], \"limit\": {\"rate\": \"100/second\", \"per\": \"source\"}},"
		" {\"name\": \"x\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": [81]}]}");
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "");
	cr_assert_eq(p->rules[0].limit.rate, 6);
	cr_assert_eq(p->rules[0].limit.unit, 60);
	cr_assert_eq(p->rules[0].limit.burst, 3);
	cr_assert_eq(p->rules[1].limit.rate, 100);
	cr_assert_eq(p->rules[1].limit.unit, 1);
	cr_assert_eq(p->rules[1].limit.burst, 5, "nft's default burst");
	cr_assert_eq(p->rules[2].limit.rate, 0);
	cr_assert(!rule_same_decision(&p->rules[0], &p->rules[2]),
		  "a limited permit does not decide as an unlimited one");
	policy_free(p);
	diag_list_fini(&d);
	free(file);
}

Test(parse, limit_errors)
{
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"limit\": {\"rate\": \"6/Minutes\"}}"),
		     "rules[0].limit.rate", "a",
		     "\"6/Minutes\" is not a rate: expected \"N/second\", \"N/minute\", \"N/hour\" or \"N/day\" with N 1-1000000 (did you mean \"6/minute\"?)");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"permit\", \"limit\": {\"rate\": \"06/minute\"}}"),
		     "rules[0].limit.rate", "a",
		     "\"06/minute\" is not a rate: expected \"N/second\", \"N/minute\", \"N/hour\" or \"N/day\" with N 1-1000000");
	expect_error(RULE("{\"name\": \"a\", \"action\": \"require-ipsec\", \"limit\": {\"rate\": \"1/second\"}}"),
		     "rules[0].limit", "a",
		     "a limit applies to permit rules only (it drops a source's flows past its rate); this rule is require-ipsec");
}

/* "interfaces": a name or a list, kept sorted and unique. */
Test(parse, interfaces_are_read)
{
	char *file = write_file("ifs.json",
		"{\"version\": 1, \"rules\": [{\"name\": \"a\", \"action\": \"permit\","
		" \"interfaces\": [\"eth1\", \"eth0\", \"eth1\"]},"
		" {\"name\": \"b\", \"action\": \"block\", \"interfaces\": \"wg0\"}]}");
	struct diag_list d;
	struct policy *p;

	diag_list_init(&d);
	p = parse_policy_file(file, NULL, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].message : "");
	cr_assert_eq(p->rules[0].nifaces, 2);
	cr_assert_str_eq(p->rules[0].ifaces[0], "eth0");
	cr_assert_str_eq(p->rules[0].ifaces[1], "eth1");
	cr_assert_eq(p->rules[1].nifaces, 1);
	cr_assert(rule_on_iface(&p->rules[1], "wg0"));
	cr_assert(!rule_on_iface(&p->rules[1], NULL));
	policy_free(p);
	diag_list_fini(&d);
	free(file);
}
