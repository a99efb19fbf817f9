/* parse_limit: a permit rule's "limit", the new flows each source may
 * open ({"rate": "6/minute", "burst": 3, "per": "source"}). */
#include "config.h"

#include "parse.h"
#include "parse_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIMIT_MAX 1000000
#define LIMIT_DEFAULT_BURST 5	/* nft's default for a packet limit */

static const char *const limit_keys[] = { "rate", "burst", "per", NULL };

/* "N/unit": N 1-LIMIT_MAX in decimal digits, unit second, minute, hour
 * or day; false when s is anything else. */
static bool rate_text(const char *s, struct rule_limit *l)
{
	static const struct { const char *name; uint32_t secs; } units[] = {
		{ "second", 1 }, { "minute", 60 }, { "hour", 3600 }, { "day", 86400 },
	};
	unsigned long v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p) || *p == '0')
		return false;
	while (isdigit((unsigned char)*p) && v <= LIMIT_MAX)
		v = v * 10 + (unsigned long)(*p++ - '0');
	if (v > LIMIT_MAX || *p++ != '/')
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].name) == 0) {
			l->rate = (uint32_t)v;
			l->unit = units[i].secs;
			return true;
		}
	return false;
}

/* " (did you mean \"6/minute\"?)" for a plural or a unit in other case */
static const char *rate_hint(const char *s)
{
	static const char *const units[] = { "second", "minute", "hour", "day" };
	static char hint[96];	/* parsing is single-threaded; used at once */
	const char *slash = strchr(s, '/');
	struct rule_limit l;

	if (!slash || slash - s > 7)
		return "";
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i]);

		if (strncasecmp(slash + 1, units[i], n) != 0 ||
		    (slash[1 + n] && strcmp(slash + 1 + n, "s") != 0))
			continue;
		char want[32];

		snprintf(want, sizeof(want), "%.*s/%s", (int)(slash - s), s, units[i]);
		if (!rate_text(want, &l))
			return "";
		snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", want);
		return hint;
	}
	return "";
}

static void limit_rate(struct pctx *c, json_t *v, const char *file, const char *path,
		       const char *rule, struct rule_limit *l)
{
	char p[640];

	snprintf(p, sizeof(p), "%s.rate", path);
	if (!v)
		perr(c, file, p, rule,
		     "missing \"rate\" (new flows per source, \"N/second\", \"N/minute\", \"N/hour\" or \"N/day\")");
	else if (!json_is_string(v))
		perr(c, file, p, rule, "expected a string such as \"6/minute\", got %s",
		     pjson_type(v));
	else if (!rate_text(json_string_value(v), l))
		perr(c, file, p, rule,
		     "\"%s\" is not a rate: expected \"N/second\", \"N/minute\", \"N/hour\" or \"N/day\" with N 1-%d%s",
		     json_string_value(v), LIMIT_MAX, rate_hint(json_string_value(v)));
}

void plimit_parse(struct pctx *c, json_t *o, const char *file, const char *path,
		  const char *rule, struct rule *r)
{
	json_t *v = json_object_get(o, "limit"), *x;
	size_t errs = c->diags->errors;
	struct rule_limit l = { 0, 0, LIMIT_DEFAULT_BURST };
	char p[600], q[640];

	if (!v)
		return;
	snprintf(p, sizeof(p), "%s.limit", path);
	if (!json_is_object(v)) {
		perr(c, file, p, rule,
		     "expected an object such as {\"rate\": \"6/minute\", \"burst\": 3, \"per\": \"source\"}, got %s",
		     pjson_type(v));
		return;
	}
	pcheck_keys(c, v, limit_keys, file, p, rule);
	limit_rate(c, json_object_get(v, "rate"), file, p, rule, &l);
	snprintf(q, sizeof(q), "%s.burst", p);
	if ((x = json_object_get(v, "burst"))) {
		if (!json_is_integer(x) || json_integer_value(x) < 1 ||
		    json_integer_value(x) > LIMIT_MAX)
			perr(c, file, q, rule, "expected an integer 1-%d (flows a source may open at once), got %s",
			     LIMIT_MAX, json_is_integer(x) ? "one out of range" : pjson_type(x));
		else
			l.burst = (uint32_t)json_integer_value(x);
	}
	snprintf(q, sizeof(q), "%s.per", p);
	if ((x = json_object_get(v, "per")) &&
	    (!json_is_string(x) || strcmp(json_string_value(x), "source") != 0))
		perr(c, file, q, rule, "expected \"source\" (limits count per source address)");
	if (r->action != ACT_PERMIT)
		perr(c, file, p, rule,
		     "a limit applies to permit rules only (it drops a source's flows past its rate); this rule is %s",
		     action_name(r->action));
	else if (r->dir == DIR_OUT)
		perr(c, file, p, rule,
		     "a per-source limit counts the peers that open flows to this host or through it; an out rule's flows start here");
	if (c->diags->errors == errs)
		r->limit = l;
}
