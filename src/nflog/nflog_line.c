/* nflog_line: log records formatted for JSON lines, text and the systemd
 * journal's native protocol (systemd's "Native Journal Protocol":
 * KEY=value lines, or KEY, newline, 64-bit little-endian length, value,
 * newline for a value that holds a newline). */
#include "config.h"

#include "nflog_line.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void addr_text(char *buf, size_t len, const struct nflog_rec *r, const uint8_t *a)
{
	if (!inet_ntop(r->family == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v));
}

json_t *nflog_line_json(const struct nflog_rec *r, const char *in, const char *out)
{
	json_t *o = json_object();
	const char *pn = nflog_proto_name(r->proto);
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int e = 0;

	if (!o)
		return NULL;
	addr_text(s, sizeof(s), r, r->saddr);
	addr_text(d, sizeof(d), r, r->daddr);
	if (r->rule[0]) {
		e |= set_str(o, "rule", r->rule);
		e |= json_object_set_new(o, "default", json_boolean(r->is_default));
		e |= set_str(o, "action", r->action);
	} else {
		e |= json_object_set_new(o, "rule", json_null());
		e |= set_str(o, "prefix", r->prefix);
	}
	if (r->dir[0])
		e |= set_str(o, "direction", r->dir);
	e |= set_str(o, "family", r->family == 4 ? "ipv4" : "ipv6");
	e |= pn ? set_str(o, "protocol", pn) :
		  json_object_set_new(o, "protocol", json_integer(r->proto));
	e |= set_str(o, "src", s);
	e |= set_str(o, "dst", d);
	if (r->has_ports) {
		e |= json_object_set_new(o, "sport", json_integer(r->sport));
		e |= json_object_set_new(o, "dport", json_integer(r->dport));
	}
	if (r->has_icmp) {
		e |= json_object_set_new(o, "icmp_type", json_integer(r->icmp_type));
		e |= json_object_set_new(o, "icmp_code", json_integer(r->icmp_code));
	}
	if (in)
		e |= set_str(o, "in", in);
	if (out)
		e |= set_str(o, "out", out);
	e |= json_object_set_new(o, "length", json_integer(r->length));
	e |= json_object_set_new(o, "group", json_integer(r->group));
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void endpoint(char *buf, size_t len, const struct nflog_rec *r, const uint8_t *a,
		     bool ports, uint16_t port)
{
	char t[INET6_ADDRSTRLEN];

	addr_text(t, sizeof(t), r, a);
	if (!ports)
		snprintf(buf, len, "%s", t);
	else
		snprintf(buf, len, r->family == 6 ? "[%s]:%u" : "%s:%u", t, port);
}

void nflog_line_text(char *buf, size_t len, const struct nflog_rec *r, const char *in,
		     const char *out)
{
	const char *pn = nflog_proto_name(r->proto);
	char s[64], d[64], proto[16], ifs[64] = "";

	endpoint(s, sizeof(s), r, r->saddr, r->has_ports, r->sport);
	endpoint(d, sizeof(d), r, r->daddr, r->has_ports, r->dport);
	if (pn)
		snprintf(proto, sizeof(proto), "%s", pn);
	else
		snprintf(proto, sizeof(proto), "proto %u", r->proto);
	snprintf(ifs, sizeof(ifs), "%s%s%s%s", in ? " in " : "", in ? in : "",
		 out ? " out " : "", out ? out : "");
	if (r->is_default)
		snprintf(buf, len, "default %s %s: %s %s -> %s%s", r->dir, r->action, proto, s,
			 d, ifs);
	else if (r->rule[0])
		snprintf(buf, len, "rule %s %s %s: %s %s -> %s%s", r->rule, r->action, r->dir,
			 proto, s, d, ifs);
	else
		snprintf(buf, len, "%s %s: %s %s -> %s%s", r->prefix, r->dir, proto, s, d, ifs);
}

/* Appends "KEY=value\n", or the length-prefixed form; -1 on OOM. */
static int field(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val), need = kl + vl + 10;
	bool binary = memchr(val, '\n', vl) != NULL;

	if (*len + need > *cap) {
		size_t nc = (*cap + need) * 2;
		char *n = realloc(*buf, nc);

		if (!n)
			return -1;
		*buf = n;
		*cap = nc;
	}
	memcpy(*buf + *len, key, kl);
	*len += kl;
	if (binary) {
		uint64_t l = vl;

		(*buf)[(*len)++] = '\n';
		for (int i = 0; i < 8; i++)
			(*buf)[(*len)++] = (char)(l >> (8 * i) & 0xff);
	} else {
		(*buf)[(*len)++] = '=';
	}
	memcpy(*buf + *len, val, vl);
	*len += vl;
	(*buf)[(*len)++] = '\n';
	return 0;
}

char *nflog_line_journal(const json_t *j, const char *msg, size_t *len)
{
	const json_t *act = json_object_get(j, "action");
	const char *prio = act && json_is_string(act) &&
			   strcmp(json_string_value(act), "block") == 0 ? "5" : "6";
	char *buf = NULL, key[64], val[256];
	size_t cap = 0;
	const char *k;
	json_t *v;

	*len = 0;
	if (field(&buf, len, &cap, "MESSAGE", msg) || field(&buf, len, &cap, "PRIORITY", prio) ||
	    field(&buf, len, &cap, "SYSLOG_IDENTIFIER", "sagate"))
		goto oom;
	json_object_foreach((json_t *)j, k, v) {
		size_t n = (size_t)snprintf(key, sizeof(key), "SAGATE_%s", k);

		for (size_t i = 7; i < n && i < sizeof(key); i++)
			key[i] = (char)toupper((unsigned char)key[i]);
		if (json_is_string(v))
			snprintf(val, sizeof(val), "%s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			snprintf(val, sizeof(val), "%d", json_is_true(v) ? 1 : 0);
		else
			continue;	/* null: the field is left out */
		if (field(&buf, len, &cap, key, val))
			goto oom;
	}
	return buf;
oom:
	free(buf);
	*len = 0;
	return NULL;
}
