/* ident_match: IKE identity patterns of require-ipsec rules, parsed and
 * matched against the identity IKE proved for an SA.
 *
 * A pattern is one of (sagate.json(5), "identities"):
 *   "*"                    any identity at all (but one must be known)
 *   "C=CH, O=Acme, CN=*"   a distinguished name: RDNs in order, a value
 *                          "*" stands for any value of that attribute
 *   "db.example.org"       an FQDN;  "*.example.org" any name below it
 *   "ops@example.org"      an e-mail identity;  "*@example.org" any user
 *                          of exactly that domain
 *   "192.0.2.7", "2001:db8::/64"  an IP identity (an address or CIDR)
 *   "san:<one of the above but a DN>"  a subjectAltName of the peer's
 *                          certificate instead of its IKE identity
 *
 * Comparison: attribute type names case-insensitively, with the aliases
 * E = Email = emailAddress, SN = serialNumber, UN = unstructuredName;
 * DN values byte by byte except that ASCII letters compare
 * case-insensitively (as strongSwan does for PrintableString and e-mail
 * values, the strings its pki tool writes for ASCII names); FQDNs and
 * e-mail identities case-insensitively.  A pattern's DN follows RFC 4514
 * escaping ("\," "\2C"); the multi-valued RDN "a=1+b=2" counts as two
 * RDNs in a row, because strongSwan prints and compares them so.  The
 * identity side is strongSwan's own printed form, which escapes nothing:
 * a ',' starts a new RDN only where an attribute type and '=' follow.
 *
 * Pure: no I/O; matching allocates nothing.
 */
#ifndef SAGATE_IDENT_MATCH_H
#define SAGATE_IDENT_MATCH_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>

#define IDENT_MAX_LEN 1024	/**< longest pattern or identity looked at, bytes */
#define IDENT_MAX_RDNS 32	/**< most attributes of a DN */

/** What a pattern compares. */
enum ident_kind {
	IDENT_ANY,		/**< "*" */
	IDENT_DN,		/**< distinguished name */
	IDENT_FQDN,		/**< exact FQDN */
	IDENT_FQDN_SUFFIX,	/**< "*.example.org": value ".example.org" */
	IDENT_EMAIL,		/**< exact user@domain */
	IDENT_EMAIL_SUFFIX,	/**< "*@example.org": value "@example.org" */
	IDENT_IP,		/**< address or CIDR */
};

/** One attribute of a DN pattern. */
struct ident_ava {
	char *type;		/**< canonical upper-case name, or a dotted OID */
	char *value;		/**< unescaped; NULL: the wildcard "*" */
	size_t len;		/**< of value (may hold NUL bytes from "\00") */
};

/** A parsed pattern. */
struct ident_pat {
	char *text;		/**< as written in the policy */
	char *group;		/**< the identity group it came from, or NULL */
	bool san;		/**< "san:": matches a subjectAltName */
	enum ident_kind kind;
	char *value;		/**< FQDN / e-mail / suffix; NULL for others */
	struct addr_range ip;	/**< IDENT_IP */
	struct ident_ava *avas;	/**< IDENT_DN */
	size_t navas;
};

/** Parse s into *out (zeroed first).  0, or -1 with a sentence in err
 *  saying what is wrong and what was expected (out then holds nothing to
 *  free).  Out of memory: -1 and err "out of memory". */
int ident_pat_parse(const char *s, struct ident_pat *out, char *err, size_t errlen);
void ident_pat_fini(struct ident_pat *p);
/** Deep copy; 0 or -1 (OOM). */
int ident_pat_copy(struct ident_pat *dst, const struct ident_pat *src);

/** Does the identity match p?  id: the IKE identity (may be NULL);
 *  sans: the certificate's subjectAltNames (NULL-terminated, may be
 *  NULL); subject: the certificate's subject DN (may be NULL), which a
 *  DN pattern tries when id is not a DN.  Hostile input is fine: over
 *  IDENT_MAX_LEN bytes or IDENT_MAX_RDNS attributes matches nothing. */
bool ident_pat_match(const struct ident_pat *p, const char *id, const char *const *sans,
		     const char *subject);

/** Does a DN (strongSwan's printed form) match the DN pattern p? */
bool ident_dn_match(const struct ident_pat *p, const char *dn);

#endif
