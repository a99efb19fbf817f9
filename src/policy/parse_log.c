/* parse_log: where a policy's log lines go and how many it may write (the
 * top-level "logging": {"group": 90, "rate": "10/second", "burst": 20}),
 * and which directions' defaults are logged ("defaults": {"log": ["in"]}). */
#include "config.h"

#include "parse.h"
#include "parse_int.h"

#include <stdio.h>
#include <string.h>

#define LOG_RATE_MAX 10000	/* lines per second beyond this are a flood, not a log */
#define LOG_BURST_MAX 100000

static const char *const logging_keys[] = { "group", "rate", "burst", NULL };

static void log_group(struct pctx *c, json_t *v, const char *file, struct policy *p)
{
	if (!v)
		return;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
		perr(c, file, "logging.group", NULL,
		     "expected an nflog group, an integer 0-65535, got %s",
		     json_is_integer(v) ? "one out of range" : pjson_type(v));
	else
		p->logging.group = (uint16_t)json_integer_value(v);
}

static void log_rate(struct pctx *c, json_t *v, const char *file, struct policy *p)
{
	struct rule_limit l = { 0, 0, 0 };
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (!v)
		return;
	if (!s)
		perr(c, file, "logging.rate", NULL,
		     "expected a string such as \"10/second\" (log lines per logging rule), got %s",
		     pjson_type(v));
	else if (!plimit_rate_text(s, &l))
		perr(c, file, "logging.rate", NULL,
		     "\"%s\" is not a rate: expected \"N/second\", \"N/minute\", \"N/hour\" or \"N/day\"%s",
		     s, plimit_rate_hint(s));
	else if ((uint64_t)l.rate > (uint64_t)LOG_RATE_MAX * l.unit)
		perr(c, file, "logging.rate", NULL,
		     "\"%s\" is more than %d lines a second: a log that fast floods the journal",
		     s, LOG_RATE_MAX);
	else {
		p->logging.rate = l.rate;
		p->logging.unit = l.unit;
	}
}

static void log_burst(struct pctx *c, json_t *v, const char *file, struct policy *p)
{
	if (!v)
		return;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > LOG_BURST_MAX)
		perr(c, file, "logging.burst", NULL,
		     "expected an integer 1-%d (lines a rule may log at once), got %s",
		     LOG_BURST_MAX, json_is_integer(v) ? "one out of range" : pjson_type(v));
	else
		p->logging.burst = (uint32_t)json_integer_value(v);
}

/* "log": true (every direction whose default blocks), false, or a list of
 * directions ("in", "out", "forward") */
static void defaults_log(struct pctx *c, json_t *v, const char *file, struct policy *p)
{
	static const char *const dirs[DIR_COUNT] = { [DIR_IN] = "in", [DIR_OUT] = "out",
						     [DIR_FWD] = "forward" };
	const char *want = "expected true, false or a list of directions such as [\"in\", \"forward\"]";
	char path[48];
	size_t i;
	json_t *e;

	if (!v)
		return;
	if (json_is_boolean(v)) {
		for (int d = 0; d < DIR_COUNT; d++)
			p->log_default[d] = json_is_true(v) && p->defaults[d] == ACT_BLOCK;
		return;
	}
	if (!json_is_array(v)) {
		perr(c, file, "defaults.log", NULL, "%s, got %s", want, pjson_type(v));
		return;
	}
	json_array_foreach(v, i, e) {
		const char *s = json_is_string(e) ? json_string_value(e) : NULL;
		int d;

		snprintf(path, sizeof(path), "defaults.log[%zu]", i);
		for (d = 0; s && d < DIR_COUNT; d++)
			if (strcmp(s, dirs[d]) == 0)
				break;
		if (!s || d == DIR_COUNT)
			perr(c, file, path, NULL, "expected \"in\", \"out\" or \"forward\", got %s%s%s",
			     s ? "\"" : "", s ? s : pjson_type(e), s ? "\"" : "");
		else if (p->log_default[d])
			perr(c, file, path, NULL, "\"%s\" is listed twice", s);
		else if (d == DIR_FWD && !p->forward_covered)
			perr(c, file, path, NULL,
			     "forwarded traffic is not filtered by this policy (no forward rule, no defaults.forward): there is no forward default to log");
		else
			p->log_default[d] = true;
	}
}

void plog_parse(struct pctx *c, json_t *root, const char *file, struct policy *p)
{
	json_t *l = json_object_get(root, "logging");
	json_t *d = json_object_get(root, "defaults");

	if (json_is_object(d))
		defaults_log(c, json_object_get(d, "log"), file, p);
	if (!l)
		return;
	if (!json_is_object(l)) {
		perr(c, file, "logging", NULL,
		     "expected an object such as {\"group\": 90, \"rate\": \"10/second\", \"burst\": 20}, got %s",
		     pjson_type(l));
		return;
	}
	pcheck_keys(c, l, logging_keys, file, "logging", NULL);
	log_group(c, json_object_get(l, "group"), file, p);
	log_rate(c, json_object_get(l, "rate"), file, p);
	log_burst(c, json_object_get(l, "burst"), file, p);
}
