/* Identity patterns of require-ipsec rules: every form parses and
 * matches as sagate.json(5) says, DN escaping and case rules hold, and
 * malformed patterns or hostile identities are refused, never matched. */
#include "config.h"

#include "ident_match.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct ident_pat P(const char *s)
{
	struct ident_pat p;
	char err[256] = "";

	cr_assert_eq(ident_pat_parse(s, &p, err, sizeof(err)), 0, "%s: %s", s, err);
	return p;
}

/* Does pattern s match identity id (no SANs, no certificate subject)? */
static bool m(const char *s, const char *id)
{
	struct ident_pat p = P(s);
	bool r = ident_pat_match(&p, id, NULL, NULL);

	ident_pat_fini(&p);
	return r;
}

/* Refused, with an error containing want. */
static void bad(const char *s, const char *want)
{
	struct ident_pat p;
	char err[256] = "";

	cr_assert_eq(ident_pat_parse(s, &p, err, sizeof(err)), -1, "accepted: %s", s);
	cr_assert(strstr(err, want), "%s: error \"%s\" lacks \"%s\"", s, err, want);
	cr_assert_null(p.text);
}

Test(ident, kinds)
{
	struct ident_pat p = P("C=CH, O=Acme, CN=*");

	cr_assert_eq(p.kind, IDENT_DN);
	cr_assert_eq(p.navas, 3);
	cr_assert_str_eq(p.avas[2].type, "CN");
	cr_assert_null(p.avas[2].value);
	ident_pat_fini(&p);
	p = P("*.db.example.org");
	cr_assert_eq(p.kind, IDENT_FQDN_SUFFIX);
	ident_pat_fini(&p);
	p = P("*@example.org");
	cr_assert_eq(p.kind, IDENT_EMAIL_SUFFIX);
	ident_pat_fini(&p);
	p = P("san:2001:db8::/64");
	cr_assert(p.san);
	cr_assert_eq(p.kind, IDENT_IP);
	ident_pat_fini(&p);
	p = P("*");
	cr_assert_eq(p.kind, IDENT_ANY);
	ident_pat_fini(&p);
}

Test(ident, dn_exact_and_wildcards)
{
	cr_assert(m("C=CH, O=Acme, CN=app1.example.org", "C=CH, O=Acme, CN=app1.example.org"));
	cr_assert(m("C=CH, O=Acme, CN=*", "C=CH, O=Acme, CN=app2"));
	cr_assert(m("C=*, O=Acme, CN=*", "C=DE, O=Acme, CN=x"));
	cr_assert_not(m("C=CH, O=Acme, CN=app1", "C=CH, O=Acme, CN=app2"));
	/* order and number of RDNs count, as in strongSwan */
	cr_assert_not(m("C=CH, O=Acme, CN=*", "O=Acme, C=CH, CN=x"));
	cr_assert_not(m("C=CH, O=Acme, CN=*", "C=CH, O=Acme, OU=db, CN=x"));
	cr_assert_not(m("C=CH, O=Acme, OU=*, CN=x", "C=CH, O=Acme, CN=x"));
	/* a wildcard stands for a value, not for nothing */
	cr_assert_not(m("C=CH, CN=*", "C=CH, CN="));
	/* a value is a whole value: no prefix match */
	cr_assert_not(m("C=CH, CN=app", "C=CH, CN=app1"));
	cr_assert_not(m("C=CH, CN=app1", "C=CH, CN=app"));
}

Test(ident, dn_case_and_aliases)
{
	cr_assert(m("c=ch, o=acme, cn=APP1", "C=CH, O=Acme, CN=app1"));
	cr_assert(m("emailAddress=ops@example.org, CN=x", "E=OPS@example.org, CN=x"));
	cr_assert(m("Email=a@b.c, CN=x", "E=a@b.c, CN=x"));
	cr_assert(m("serialNumber=42, CN=x", "SN=42, CN=x"));
	cr_assert(m("2.5.4.3=x", "2.5.4.3=x"));
	cr_assert_not(m("2.5.4.3=x", "CN=x"));	/* an OID is only itself */
	/* non-ASCII bytes compare exactly */
	cr_assert(m("CN=Z\\C3\\BCrich", "CN=Zürich"));
	cr_assert_not(m("CN=Z\\C3\\BCrich", "CN=ZÜrich"));
}

Test(ident, dn_whitespace)
{
	cr_assert(m("C=CH,O=Acme,CN=x", "C=CH, O=Acme, CN=x"));
	cr_assert(m("C = CH ,  O = Acme , CN = x", "C=CH, O=Acme, CN=x"));
	cr_assert(m("C=CH, O=Acme, CN=x", "C=CH,O=Acme,CN=x"));
	/* inner spaces are part of the value */
	cr_assert(m("O=Acme Corp, CN=x", "O=Acme Corp, CN=x"));
	cr_assert_not(m("O=AcmeCorp, CN=x", "O=Acme Corp, CN=x"));
	/* an escaped trailing space is kept */
	cr_assert_not(m("O=Acme\\ , CN=x", "O=Acme, CN=x"));
}

Test(ident, dn_escaping)
{
	/* RFC 4514 escapes in the pattern; strongSwan prints values raw */
	cr_assert(m("O=Acme\\, Inc., CN=x", "O=Acme, Inc., CN=x"));
	cr_assert(m("O=Acme\\2C Inc., CN=x", "O=Acme, Inc., CN=x"));
	cr_assert(m("CN=a\\+b", "CN=a+b"));
	cr_assert(m("CN=\\*", "CN=*"));
	cr_assert_not(m("CN=\\*", "CN=anything"));
	cr_assert(m("CN=a\\=b\\\\c", "CN=a=b\\c"));
	/* multi-valued RDN: strongSwan flattens it */
	cr_assert(m("O=Acme, CN=x+UID=7", "O=Acme, CN=x, UID=7"));
	/* a raw ',' in the identity stays in the value unless "type=" follows */
	cr_assert(m("O=Acme\\, Inc., CN=*", "O=Acme, Inc., CN=y"));
	cr_assert_not(m("O=Acme, O=Inc., CN=*", "O=Acme, Inc., CN=y"));
}

Test(ident, dn_refused)
{
	bad("C=CH, , CN=x", "attribute 2 of the DN is empty");
	bad("C=CH, CN=x,", "ends with a separator");
	bad("C=CH, CN=x, ", "ends with white space");
	bad("C=CH, CN=x,+O=y", "attribute 3 of the DN is empty");
	bad("C=CH, CN=", "empty value for CN");
	bad("XX=CH", "unknown DN attribute type \"XX\"");
	bad("C=CH, CN=app*", "must stand alone");
	bad("C=CH, CN=*x", "must stand alone");
	bad("CN=a\\q", "bad escape");
	bad("CN=a\\", "bad escape");
	bad("CN=a\\4", "bad escape");
	bad("CN=#0403", "hex-encoded");
	bad("CN=\"x\"", "unescaped '\"'");
	bad("CN=a;O=b", "unescaped ';'");
	bad("=x", "does not start with an attribute type");
	bad("CN x", "no identity");
	bad("2.5..4=x", "unknown DN attribute type");
	bad("san:CN=x", "not a DN");
}

Test(ident, dn_limits)
{
	char big[IDENT_MAX_RDNS * 8 + 64] = "", id[IDENT_MAX_LEN + 64];

	for (int i = 0; i <= IDENT_MAX_RDNS; i++)
		strcat(big, i ? ", CN=x" : "CN=x");
	bad(big, "more than");
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	memcpy(id, "CN=", 3);
	bad(id, "longer than");
	cr_assert_not(m("CN=*", id));		/* too long to look at */
	cr_assert_not(m("*", id));
	cr_assert_not(m("CN=*", big));		/* too many RDNs */
}

Test(ident, fqdn)
{
	cr_assert(m("db.example.org", "DB.Example.org"));
	cr_assert_not(m("db.example.org", "db.example.org.evil"));
	cr_assert(m("*.db.example.org", "pg1.db.example.org"));
	cr_assert(m("*.db.example.org", "a.b.db.example.org"));
	cr_assert_not(m("*.db.example.org", "db.example.org"));
	cr_assert_not(m("*.db.example.org", "evildb.example.org"));
	cr_assert_not(m("*.example.org", "CN=x.example.org"));	/* a DN is no FQDN */
	cr_assert_not(m("*.example.org", "x@a.example.org"));
	cr_assert_not(m("*.example.org", ".example.org"));
	bad("*.", "no FQDN suffix");
	bad("*.a..b", "no FQDN suffix");
	bad("a.*.b", "a '*' may only open");
	bad("**", "no identity");
	bad(" db.example.org", "white space");
	bad("db.example.org\t", "white space");
	bad("", "empty identity");
	bad("db\x01.org", "control character");
}

Test(ident, email)
{
	cr_assert(m("ops@example.org", "OPS@Example.ORG"));
	cr_assert_not(m("ops@example.org", "ops2@example.org"));
	cr_assert(m("*@example.org", "anyone@example.org"));
	cr_assert_not(m("*@example.org", "x@sub.example.org"));
	cr_assert_not(m("*@example.org", "@example.org"));
	cr_assert_not(m("*@example.org", "x@evilexample.org"));
	cr_assert_not(m("*@example.org", "example.org"));
	bad("o*@example.org", "whole user part");
	bad("@example.org", "user part");
	bad("a@b@c", "no e-mail identity");
	bad("a@", "no e-mail identity");
}

Test(ident, ip)
{
	cr_assert(m("192.0.2.7", "192.0.2.7"));
	cr_assert_not(m("192.0.2.7", "192.0.2.8"));
	cr_assert(m("192.0.2.0/24", "192.0.2.200"));
	cr_assert_not(m("192.0.2.0/24", "192.0.3.1"));
	cr_assert(m("2001:db8::/64", "2001:db8::1"));
	cr_assert_not(m("2001:db8::/64", "192.0.2.1"));
	cr_assert_not(m("192.0.2.7", "192.0.2.7.example.org"));
	cr_assert_not(m("192.0.2.0/24", "192.0.2.0/25"));	/* an identity is one address */
	bad("192.0.2.1/24", "bits set below");
	bad("192.0.2.300", "no IP identity");
}

Test(ident, any)
{
	cr_assert(m("*", "C=CH, CN=x"));
	cr_assert(m("*", "x.example.org"));
	cr_assert_not(m("*", ""));
	cr_assert_not(m("*", NULL));
	cr_assert_not(m("C=CH, CN=*", NULL));
}

Test(ident, san_and_subject)
{
	struct ident_pat p = P("san:*.db.example.org");
	const char *sans[] = { "192.0.2.7", "pg1.db.example.org", NULL };
	const char *other[] = { "pg1.web.example.org", NULL };

	cr_assert(ident_pat_match(&p, "C=CH, CN=unrelated", sans, NULL));
	cr_assert_not(ident_pat_match(&p, "pg1.db.example.org", other, NULL),
		      "san: looks at the certificate, not at the IKE identity");
	cr_assert_not(ident_pat_match(&p, "pg1.db.example.org", NULL, NULL));
	ident_pat_fini(&p);
	p = P("san:192.0.2.0/24");
	cr_assert(ident_pat_match(&p, "x", sans, NULL));
	ident_pat_fini(&p);
	/* a DN pattern tries the certificate's subject when the IKE id is no DN */
	p = P("O=Acme, CN=*");
	cr_assert(ident_pat_match(&p, "pg1.db.example.org", NULL, "O=Acme, CN=pg1"));
	cr_assert_not(ident_pat_match(&p, "pg1.db.example.org", NULL, "O=Evil, CN=pg1"));
	cr_assert_not(ident_pat_match(&p, "O=Evil, CN=x", NULL, "O=Acme, CN=pg1"),
		      "an IKE identity that is a DN is what counts");
	ident_pat_fini(&p);
	/* the plain (non-san) forms look at the IKE identity only */
	p = P("pg1.db.example.org");
	cr_assert_not(ident_pat_match(&p, "C=CH, CN=x", sans, NULL));
	ident_pat_fini(&p);
}

Test(ident, copy)
{
	struct ident_pat a = P("O=Acme, CN=*"), b;

	a.group = strdup("apps");
	cr_assert_eq(ident_pat_copy(&b, &a), 0);
	cr_assert_str_eq(b.text, a.text);
	cr_assert_str_eq(b.group, "apps");
	cr_assert(ident_pat_match(&b, "O=acme, CN=y", NULL, NULL));
	ident_pat_fini(&a);
	ident_pat_fini(&b);
}

Test(ident, hostile_identities)
{
	struct ident_pat p = P("O=Acme, CN=*");
	const char *ids[] = { "", "=", ",", ",,,,", "O=", "O=Acme,", "O=Acme, CN", "O=Acme, =x",
			      "O=Acme, CN=x, ", " , O=Acme, CN=x", "O=Acme\\, CN=x", "\xff\xfe=\x01" };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		(void)ident_pat_match(&p, ids[i], NULL, ids[i]);
	cr_assert_not(ident_pat_match(&p, "O=Acme, CN", NULL, NULL));
	cr_assert_not(ident_pat_match(&p, "O=Acme,", NULL, NULL));
	ident_pat_fini(&p);
}
