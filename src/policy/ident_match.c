/* ident_match: parsing and matching IKE identity patterns (see
 * ident_match.h for the forms and the comparison rules). */
#include "config.h"

#include "ident_match.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attribute types strongSwan knows by name (its x501 table), upper case;
 * an alias maps to the first name of its row. */
static const char *const dn_types[][4] = {
	{ "CN" }, { "C" }, { "L" }, { "ST" }, { "O" }, { "OU" }, { "DC" }, { "UID" },
	{ "E", "EMAIL", "EMAILADDRESS" }, { "SN", "SERIALNUMBER" }, { "S" }, { "T" },
	{ "D" }, { "N" }, { "G" }, { "I" }, { "ND" }, { "ID" }, { "DNQUALIFIER" },
	{ "DMDNAME" }, { "PSEUDONYM" }, { "EN", "EMPLOYEENUMBER" },
	{ "UN", "UNSTRUCTUREDNAME" }, { "UA", "UNSTRUCTUREDADDRESS" }, { "TCGID" },
};
#define NTYPES (sizeof(dn_types) / sizeof(dn_types[0]))
#define TYPE_MAX 32

static void say(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static bool type_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-';
}

static bool is_oid(const char *t, size_t n)
{
	bool dot = false;

	if (!n || !isdigit((unsigned char)t[0]) || !isdigit((unsigned char)t[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '.') {
			if (t[i - 1] == '.')
				return false;
			dot = true;
		} else if (!isdigit((unsigned char)t[i])) {
			return false;
		}
	}
	return dot;
}

/* The canonical name of type t[0..n) into out (TYPE_MAX bytes): a known
 * name or alias, upper case; a dotted OID as it is.  false: unknown. */
static bool canon_type(const char *t, size_t n, char *out)
{
	char up[TYPE_MAX];

	if (n == 0 || n >= TYPE_MAX)
		return false;
	if (is_oid(t, n)) {
		memcpy(out, t, n);
		out[n] = '\0';
		return true;
	}
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)t[i]);
	up[n] = '\0';
	for (size_t i = 0; i < NTYPES; i++)
		for (size_t j = 0; j < 4 && dn_types[i][j]; j++)
			if (strcmp(up, dn_types[i][j]) == 0) {
				strcpy(out, dn_types[i][0]);
				return true;
			}
	return false;
}

static bool ci_equal(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---- patterns ---- */

/* One attribute "type=value" of a DN pattern at *s; moves *s past it and
 * its separator.  0, or -1 with err set. */
static int parse_ava(const char **sp, struct ident_ava *a, size_t idx, char *err, size_t el)
{
	const char *s = *sp, *t;
	char type[TYPE_MAX], *v;
	size_t n = 0, keep = 0;
	bool star = false, other = false;

	while (*s == ' ')
		s++;
	t = s;
	while (type_char(*s))
		s++;
	if (s == t) {
		say(err, el, *t == ',' || *t == '+' || !*t ?
		    "attribute %zu of the DN is empty (expected type=value between commas)" :
		    "attribute %zu of the DN does not start with an attribute type (expected type=value, e.g. CN=host)",
		    idx + 1);
		return -1;
	}
	if (!canon_type(t, (size_t)(s - t), type)) {
		say(err, el, "unknown DN attribute type \"%.*s\" (expected C, ST, L, O, OU, CN, E, DC, UID, SN or another name strongSwan knows, or a dotted OID)",
		    (int)(s - t > 40 ? 40 : s - t), t);
		return -1;
	}
	while (*s == ' ')
		s++;
	if (*s != '=') {
		say(err, el, "expected '=' after the DN attribute type \"%.*s\"", (int)(s - t > 40 ? 40 : s - t), t);
		return -1;
	}
	s++;
	while (*s == ' ')
		s++;
	if (*s == '#') {
		say(err, el, "hex-encoded DN values (\"#...\") are not supported; write the value as text");
		return -1;
	}
	if (!(v = malloc(strlen(s) + 1))) {
		say(err, el, "out of memory");
		return -1;
	}
	for (; *s && *s != ',' && *s != '+'; s++) {
		char c = *s;

		if (c == '\\') {
			int h = hexval(s[1]), l = h >= 0 ? hexval(s[2]) : -1;

			if (h >= 0 && l >= 0) {
				c = (char)(h << 4 | l);
				s += 2;
			} else if (s[1] && strchr(" \"#+,;<=>\\*", s[1])) {
				c = *++s;
			} else {
				say(err, el, "bad escape in the DN value of %s (expected \\ before one of , + \" \\ < > ; = # * space, or two hex digits)", type);
				free(v);
				return -1;
			}
			v[n++] = c;
			keep = n;	/* an escaped character is never trimmed */
			other = true;
			continue;
		}
		if (c == '"' || c == ';' || c == '<' || c == '>' || (unsigned char)c < 0x20 || c == 0x7f) {
			say(err, el, "unescaped '%s' in the DN value of %s (escape it with \\, RFC 4514)",
			    (unsigned char)c < 0x20 || c == 0x7f ? "control character" :
			    c == '"' ? "\"" : c == ';' ? ";" : c == '<' ? "<" : ">", type);
			free(v);
			return -1;
		}
		if (c == '*')
			star = true;
		else if (c != ' ')
			other = true;
		v[n++] = c;
		if (c != ' ')
			keep = n;
	}
	n = keep;
	if (star && (other || n != 1)) {
		say(err, el, "'*' in the DN value of %s must stand alone (a wildcard matches a whole value; write \\* for a literal star)", type);
		free(v);
		return -1;
	}
	if (n == 0) {
		say(err, el, "empty value for %s in the DN (expected a value, or * for any)", type);
		free(v);
		return -1;
	}
	if (*s) {
		s++;
		if (!*s || strspn(s, " ") == strlen(s)) {
			say(err, el, "the DN ends with a separator (expected another type=value after it)");
			free(v);
			return -1;
		}
	}
	if (!(a->type = strdup(type))) {
		free(v);
		say(err, el, "out of memory");
		return -1;
	}
	v[n] = '\0';
	if (star) {
		free(v);
		v = NULL;
	}
	a->value = v;
	a->len = n;
	*sp = s;
	return 0;
}

static int parse_dn(const char *s, struct ident_pat *p, char *err, size_t el)
{
	if (!(p->avas = calloc(IDENT_MAX_RDNS, sizeof(*p->avas)))) {
		say(err, el, "out of memory");
		return -1;
	}
	p->kind = IDENT_DN;
	while (*s) {
		if (p->navas == IDENT_MAX_RDNS) {
			say(err, el, "a DN of more than %d attributes", IDENT_MAX_RDNS);
			return -1;
		}
		if (parse_ava(&s, &p->avas[p->navas], p->navas, err, el) < 0)
			return -1;
		p->navas++;
	}
	if (!p->navas) {
		say(err, el, "empty DN");
		return -1;
	}
	return 0;
}

static bool label_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* A DNS name: labels of letters, digits, '-' and '_', 1-63 bytes each. */
static bool hostname_ok(const char *s, size_t n)
{
	size_t lab = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (lab == 0)
				return false;
			lab = 0;
		} else if (label_char(s[i]) && ++lab <= 63) {
			continue;
		} else {
			return false;
		}
	}
	return lab > 0;
}

/* The local part of an e-mail identity: printable, no '@', space or '*'. */
static bool local_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
		    strchr("@*,=\\\"", s[i]))
			return false;
	return true;
}

static bool looks_ip(const char *s)
{
	return strchr(s, ':') || strspn(s, "0123456789./-") == strlen(s);
}

static int set_value(struct ident_pat *p, enum ident_kind k, const char *v, char *err, size_t el)
{
	p->kind = k;
	if (!(p->value = strdup(v))) {
		say(err, el, "out of memory");
		return -1;
	}
	return 0;
}

static int parse_plain(const char *s, struct ident_pat *p, char *err, size_t el)
{
	const char *at = strchr(s, '@');
	enum addr_parse_error e;

	if (strcmp(s, "*") == 0) {
		p->kind = IDENT_ANY;
		return 0;
	}
	if (at) {
		if (strchr(at + 1, '@') || !hostname_ok(at + 1, strlen(at + 1))) {
			say(err, el, "\"%s\" is no e-mail identity (expected user@domain or *@domain, the domain a DNS name)", s);
			return -1;
		}
		if (at - s == 1 && s[0] == '*')
			return set_value(p, IDENT_EMAIL_SUFFIX, at, err, el);
		if (!local_ok(s, (size_t)(at - s))) {
			say(err, el, "\"%s\": the user part of an e-mail identity may not be empty or hold spaces, '*', ',' or '='%s", s,
			    strchr(s, '*') ? " (a wildcard may only stand for the whole user part: *@domain)" : "");
			return -1;
		}
		return set_value(p, IDENT_EMAIL, s, err, el);
	}
	if (looks_ip(s)) {
		e = addr_parse(s, &p->ip);
		if (e == ADDR_OK) {
			p->kind = IDENT_IP;
			return 0;
		}
		say(err, el, "\"%s\" is no IP identity (expected an address, a CIDR or a range%s)", s,
		    e == ADDR_HOST_BITS ? "; the CIDR has bits set below its prefix" : "");
		return -1;
	}
	if (s[0] == '*' && s[1] == '.') {
		if (!hostname_ok(s + 2, strlen(s + 2))) {
			say(err, el, "\"%s\" is no FQDN suffix (expected *. followed by a DNS name, e.g. *.db.example.org)", s);
			return -1;
		}
		return set_value(p, IDENT_FQDN_SUFFIX, s + 1, err, el);
	}
	if (!hostname_ok(s, strlen(s))) {
		say(err, el, "\"%s\" is no identity (expected a DN such as \"C=CH, O=Acme, CN=*\", an FQDN, *.domain, user@domain, *@domain, an IP address, san:... or *)%s",
		    s, strchr(s, '*') ? "; a '*' may only open an FQDN (*.domain) or stand for an e-mail user (*@domain) or a DN value (CN=*)" : "");
		return -1;
	}
	return set_value(p, IDENT_FQDN, s, err, el);
}

int ident_pat_parse(const char *s, struct ident_pat *out, char *err, size_t errlen)
{
	size_t n = s ? strnlen(s, IDENT_MAX_LEN + 1) : 0;
	const char *body = s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s || n == 0) {
		say(err, errlen, "empty identity (expected a DN, an FQDN, an e-mail address, an IP address, san:... or *)");
		return -1;
	}
	if (n > IDENT_MAX_LEN) {
		say(err, errlen, "identity longer than %d bytes", IDENT_MAX_LEN);
		return -1;
	}
	if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])) {
		say(err, errlen, "\"%s\" starts or ends with white space", s);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			say(err, errlen, "control character in an identity");
			return -1;
		}
	if (strncmp(s, "san:", 4) == 0) {
		out->san = true;
		body = s + 4;
		if (strchr(body, '=') || !*body) {
			say(err, errlen, "\"%s\": a san: pattern names a DNS name, an e-mail address or an IP address (or *), not %s",
			    s, *body ? "a DN" : "nothing");
			return -1;
		}
	}
	rc = strchr(body, '=') ? parse_dn(body, out, err, errlen) :
				 parse_plain(body, out, err, errlen);
	if (rc == 0 && !(out->text = strdup(s))) {
		say(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc < 0)
		ident_pat_fini(out);
	return rc;
}

void ident_pat_fini(struct ident_pat *p)
{
	for (size_t i = 0; p->avas && i < IDENT_MAX_RDNS; i++) {
		free(p->avas[i].type);
		free(p->avas[i].value);
	}
	free(p->avas);
	free(p->text);
	free(p->group);
	free(p->value);
	memset(p, 0, sizeof(*p));
}

int ident_pat_copy(struct ident_pat *dst, const struct ident_pat *src)
{
	char err[8];

	if (ident_pat_parse(src->text, dst, err, sizeof(err)) < 0)
		return -1;
	if (src->group && !(dst->group = strdup(src->group))) {
		ident_pat_fini(dst);
		return -1;
	}
	return 0;
}

/* ---- identities ---- */

/* At s, "type =" of strongSwan's printed DN?  *tn gets the type's length. */
static bool at_type(const char *s, const char *end, size_t *tn)
{
	const char *t;

	while (s < end && *s == ' ')
		s++;
	t = s;
	while (s < end && type_char(*s))
		s++;
	*tn = (size_t)(s - t);
	if (s == t)
		return false;
	while (s < end && *s == ' ')
		s++;
	return s < end && *s == '=';
}

/* One attribute of the identity's DN, as spans into it. */
struct id_ava {
	char type[TYPE_MAX];
	const char *v;
	size_t n;
};

/* Split strongSwan's printed DN into attributes; the count, or -1 when it
 * is no DN (or too long). */
static int split_id_dn(const char *dn, size_t len, struct id_ava *out)
{
	const char *s = dn, *end = dn + len;
	int n = 0;
	size_t tn;

	while (s < end) {
		const char *v, *ve;

		if (n == IDENT_MAX_RDNS || !at_type(s, end, &tn))
			return -1;
		while (*s == ' ')
			s++;
		if (!canon_type(s, tn, out[n].type)) {
			/* a name we do not know can match only its own spelling */
			if (tn >= TYPE_MAX)
				return -1;
			for (size_t i = 0; i < tn; i++)
				out[n].type[i] = (char)toupper((unsigned char)s[i]);
			out[n].type[tn] = '\0';
		}
		s = (const char *)memchr(s, '=', (size_t)(end - s)) + 1;
		while (s < end && *s == ' ')
			s++;
		v = s;
		/* the value runs to a ',' that a "type=" follows */
		for (ve = s; ve < end; ve++)
			if (*ve == ',' && at_type(ve + 1, end, &tn))
				break;
		s = ve < end ? ve + 1 : end;
		while (ve > v && ve[-1] == ' ')
			ve--;
		out[n].v = v;
		out[n].n = (size_t)(ve - v);
		n++;
	}
	return n ? n : -1;
}

bool ident_dn_match(const struct ident_pat *p, const char *dn)
{
	struct id_ava a[IDENT_MAX_RDNS];
	size_t len;
	int n;

	if (!dn || p->kind != IDENT_DN || (len = strnlen(dn, IDENT_MAX_LEN + 1)) > IDENT_MAX_LEN)
		return false;
	n = split_id_dn(dn, len, a);
	if (n < 0 || (size_t)n != p->navas)
		return false;
	for (size_t i = 0; i < p->navas; i++) {
		const struct ident_ava *x = &p->avas[i];

		if (strcmp(x->type, a[i].type) != 0)
			return false;
		if (x->value ? !ci_equal(x->value, x->len, a[i].v, a[i].n) : a[i].n == 0)
			return false;
	}
	return true;
}

static bool ends_with_ci(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n > k && ci_equal(s + n - k, k, suf, k);
}

/* A non-DN pattern against one name (an IKE identity or a SAN). */
static bool match_plain(const struct ident_pat *p, const char *s)
{
	size_t n = s ? strnlen(s, IDENT_MAX_LEN + 1) : 0;
	const char *at;
	struct addr_range r;

	if (!s || n == 0 || n > IDENT_MAX_LEN)
		return false;
	at = memchr(s, '@', n);
	switch (p->kind) {
	case IDENT_ANY:
		return true;
	case IDENT_FQDN:
		return !at && hostname_ok(s, n) && ci_equal(s, n, p->value, strlen(p->value));
	case IDENT_FQDN_SUFFIX:
		return !at && hostname_ok(s, n) && ends_with_ci(s, n, p->value);
	case IDENT_EMAIL:
		return at && ci_equal(s, n, p->value, strlen(p->value));
	case IDENT_EMAIL_SUFFIX:
		return at && local_ok(s, (size_t)(at - s)) &&
		       ci_equal(at, n - (size_t)(at - s), p->value, strlen(p->value));
	case IDENT_IP:
		return looks_ip(s) && addr_parse(s, &r) == ADDR_OK && r.lo == r.hi &&
		       r.fam == p->ip.fam && r.lo >= p->ip.lo && r.lo <= p->ip.hi;
	case IDENT_DN:
		break;
	}
	return false;
}

static bool is_dn(const char *s)
{
	struct id_ava a[IDENT_MAX_RDNS];
	size_t len = s ? strnlen(s, IDENT_MAX_LEN + 1) : 0;

	return len && len <= IDENT_MAX_LEN && split_id_dn(s, len, a) > 0;
}

bool ident_pat_match(const struct ident_pat *p, const char *id, const char *const *sans,
		     const char *subject)
{
	if (p->san) {
		for (size_t i = 0; sans && sans[i] && i < IDENT_MAX_RDNS * 8; i++)
			if (match_plain(p, sans[i]))
				return true;
		return false;
	}
	if (p->kind == IDENT_DN)
		return is_dn(id) ? ident_dn_match(p, id) : ident_dn_match(p, subject);
	return match_plain(p, id);
}
