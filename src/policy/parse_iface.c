/* parse_iface: a rule's "interfaces", the network interfaces it applies
 * to (a zone), checked as the kernel names interfaces. */
#include "config.h"

#include "parse.h"
#include "parse_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IFACES_MAX 64
#define IFNAME_MAX 15	/* IFNAMSIZ - 1 */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Why name is no interface name the kernel would take, or NULL. */
static const char *bad_ifname(const char *name)
{
	if (!*name)
		return "is empty";
	if (strlen(name) > IFNAME_MAX)
		return "is longer than 15 bytes, the most an interface name has";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "is no interface name";
	if (strchr(name, '*'))
		return "has a wildcard: sagate matches exact interface names only; list each one";
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
		    !isprint((unsigned char)*p))
			return "has a character interface names cannot have ('/', ':', a space or a control character)";
	return NULL;
}

void piface_parse(struct pctx *c, json_t *o, const char *file, const char *path,
		  const char *rule, struct rule *r)
{
	json_t *v = json_object_get(o, "interfaces"), *arr, *e;
	char p[600];
	size_t i, n;

	if (!v)
		return;
	snprintf(p, sizeof(p), "%s.interfaces", path);
	/* sagated looks a queued packet's rule up by address, protocol and
	 * port: a rule it could only find by interface would never admit */
	if (r->action == ACT_REQUIRE_IPSEC) {
		perr(c, file, p, rule,
		     "a require-ipsec rule applies on every interface (sagated does not know which one a queued packet came by); narrow it with \"peers\" or \"local\"");
		return;
	}
	arr = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
	n = json_array_size(arr);
	if (!json_is_array(arr) || n == 0 || n > IFACES_MAX) {
		perr(c, file, p, rule, "expected an interface name or an array of 1-%d of them, got %s",
		     IFACES_MAX, json_is_array(v) ? (n ? "too many" : "an empty array") :
		     pjson_type(v));
		json_decref(arr);
		return;
	}
	if (!(r->ifaces = calloc(n, sizeof(*r->ifaces)))) {
		c->oom = true;
		json_decref(arr);
		return;
	}
	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e), *why;
		char q[640];

		snprintf(q, sizeof(q), json_is_array(v) ? "%s[%zu]" : "%s", p, i);
		if (!s) {
			perr(c, file, q, rule, "expected an interface name, got %s", pjson_type(e));
			continue;
		}
		if ((why = bad_ifname(s))) {
			perr(c, file, q, rule, "interface name \"%s\" %s", s, why);
			continue;
		}
		if (!(r->ifaces[r->nifaces] = strdup(s))) {
			c->oom = true;
			break;
		}
		r->nifaces++;
	}
	json_decref(arr);
	qsort(r->ifaces, r->nifaces, sizeof(*r->ifaces), cmp_str);
	for (i = 1, n = r->nifaces ? 1 : 0; i < r->nifaces; i++) {
		if (strcmp(r->ifaces[i], r->ifaces[n - 1]) == 0)
			free(r->ifaces[i]);
		else
			r->ifaces[n++] = r->ifaces[i];
	}
	r->nifaces = n;
}
