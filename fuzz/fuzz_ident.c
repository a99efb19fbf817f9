/* fuzz_ident: libFuzzer target for IKE identity patterns (ident_match.c):
 * a pattern as a policy would hold it, matched against an identity and a
 * certificate, both hostile.
 *
 * The input's lines are: the pattern, the IKE identity, the certificate
 * subject, then subjectAltNames (at most 8).  Checked:
 *   - a refused pattern says why and holds nothing;
 *   - a pattern parses again from its own text to one that matches alike,
 *     and so does its copy;
 *   - "*" matches every identity that is not empty nor too long;
 *   - an FQDN, e-mail or IP pattern matches its own text, and a DN
 *     pattern written without escapes and multi-valued RDNs matches its
 *     own text (the form strongSwan prints). */
#include "config.h"

#include "ident_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SANS 8

static void fail(const char *what, const char *pat, const char *id)
{
	fprintf(stderr, "fuzz_ident: %s (pattern \"%s\", identity \"%s\")\n", what, pat,
		id ? id : "(null)");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *line[3 + MAX_SANS + 1] = { 0 }, *s, err[400];
	const char *sans[MAX_SANS + 1] = { 0 };
	struct ident_pat p, q, c;
	size_t n = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (s = buf; n < 3 + MAX_SANS; n++) {
		line[n] = s;
		if (!(s = strchr(s, '\n')))
			break;
		*s++ = '\0';
	}
	for (size_t i = 3; i < 3 + MAX_SANS && line[i]; i++)
		sans[i - 3] = line[i];
	if (ident_pat_parse(line[0], &p, err, sizeof(err)) < 0) {
		if (!err[0] || p.text || p.avas || p.value)
			fail("refused without a reason, or holding something", line[0], NULL);
		free(buf);
		return 0;
	}
	bool m = ident_pat_match(&p, line[1], sans, line[2]);

	if (ident_pat_parse(p.text, &q, err, sizeof(err)) < 0)
		fail("its own text does not parse again", p.text, NULL);
	if (ident_pat_copy(&c, &p) < 0)
		fail("copy failed", p.text, NULL);
	if (ident_pat_match(&q, line[1], sans, line[2]) != m ||
	    ident_pat_match(&c, line[1], sans, line[2]) != m)
		fail("the same pattern matched differently", p.text, line[1]);
	if (!p.san && p.kind == IDENT_ANY && line[1] && line[1][0] &&
	    strlen(line[1]) <= IDENT_MAX_LEN && !m)
		fail("\"*\" refused an identity", p.text, line[1]);
	if (!p.san && (p.kind == IDENT_FQDN || p.kind == IDENT_EMAIL ||
		       (p.kind == IDENT_IP && p.ip.lo == p.ip.hi && !strpbrk(p.text, "/-"))) &&
	    !ident_pat_match(&p, p.text, NULL, NULL))
		fail("does not match its own text", p.text, p.text);
	if (!p.san && p.kind == IDENT_DN && !strpbrk(p.text, "\\+") &&
	    !ident_pat_match(&p, p.text, NULL, NULL))
		fail("a plain DN does not match its own text", p.text, p.text);
	ident_pat_fini(&p);
	ident_pat_fini(&q);
	ident_pat_fini(&c);
	free(buf);
	return 0;
}
