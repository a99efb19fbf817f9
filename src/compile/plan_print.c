#include "config.h"

#include "plan_print.h"
#include "icmp.h"

#include <stdlib.h>
#include <string.h>

static const char *field_expr(enum plan_field f)
{
	switch (f) {
	case PF_SADDR4: return "ip saddr";
	case PF_DADDR4: return "ip daddr";
	case PF_SADDR6: return "ip6 saddr";
	case PF_DADDR6: return "ip6 daddr";
	case PF_L4PROTO: return "meta l4proto";
	case PF_DPORT: return "th dport";
	case PF_ICMP_TYPE: return "icmp type";
	case PF_ICMPV6_TYPE: return "icmpv6 type";
	case PF_IIFNAME: return "iifname";
	case PF_OIFNAME: return "oifname";
	}
	return "?";
}

static const char *field_type(enum plan_field f)
{
	switch (f) {
	case PF_SADDR4:
	case PF_DADDR4: return "ipv4_addr";
	case PF_SADDR6:
	case PF_DADDR6: return "ipv6_addr";
	case PF_L4PROTO: return "inet_proto";
	case PF_DPORT: return "inet_service";
	case PF_ICMP_TYPE: return "icmp_type";
	case PF_ICMPV6_TYPE: return "icmpv6_type";
	case PF_IIFNAME:
	case PF_OIFNAME: return "ifname";
	}
	return "?";
}

static int format_field(char *buf, size_t len, enum plan_field f, u128 lo, u128 hi)
{
	char a[128];

	if (f == PF_L4PROTO) {
		const char *n = model_proto_name((unsigned)lo);

		if (lo == hi)
			return n ? snprintf(buf, len, "%s", n) :
				   snprintf(buf, len, "%u", (unsigned)lo);
		return snprintf(buf, len, "%u-%u", (unsigned)lo, (unsigned)hi);
	}
	if (f == PF_IIFNAME || f == PF_OIFNAME) {	/* rule names are checked: no quote */
		char n[17];

		plan_ifname_text(n, lo);
		return snprintf(buf, len, "\"%s\"", n);
	}
	if (f == PF_ICMP_TYPE || f == PF_ICMPV6_TYPE) {
		const char *n = icmp_type_name(f == PF_ICMP_TYPE ? 1 : 58, (unsigned)lo);

		if (lo == hi && n)
			return snprintf(buf, len, "%s", n);
	}
	if (f == PF_DPORT || f == PF_ICMP_TYPE || f == PF_ICMPV6_TYPE)
		return lo == hi ? snprintf(buf, len, "%u", (unsigned)lo) :
		       snprintf(buf, len, "%u-%u", (unsigned)lo, (unsigned)hi);
	struct addr_range r = { f == PF_SADDR4 || f == PF_DADDR4 ? AF4 : AF6, lo, hi };

	addr_range_format(&r, a, sizeof(a));
	return snprintf(buf, len, "%s", a);
}

int plan_format_elem_key(char *buf, size_t len, const struct plan_set *s,
			 const struct plan_elem *e)
{
	size_t used = 0;

	for (size_t i = 0; i < s->nfields; i++) {
		if (i)
			used += (size_t)snprintf(buf + used, used < len ? len - used : 0, " . ");
		used += (size_t)format_field(buf + used, used < len ? len - used : 0,
					     s->fields[i], e->lo[i], e->hi[i]);
	}
	return (int)used;
}

int plan_format_verdict(char *buf, size_t len, const struct plan_verdict *v)
{
	switch (v->kind) {
	case PV_NONE: return snprintf(buf, len, "%s", "");
	case PV_ACCEPT: return snprintf(buf, len, "accept");
	case PV_DROP: return snprintf(buf, len, "drop");
	case PV_GOTO: return snprintf(buf, len, "goto %s", v->chain);
	case PV_JUMP: return snprintf(buf, len, "jump %s", v->chain);
	case PV_QUEUE: return snprintf(buf, len, "queue num %u", v->queue);
	}
	return snprintf(buf, len, "?");
}

static void print_ct_state(FILE *f, uint32_t m)
{
	static const char *const names[] = { "invalid", "established", "related", "new" };
	bool first = true;

	fputs("ct state ", f);
	for (int i = 0; i < 4; i++)
		if (m & (1u << i)) {
			fprintf(f, "%s%s", first ? "" : ",", names[i]);
			first = false;
		}
}

static void print_vmap(FILE *f, const struct plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->nsets; i++) {
		const struct plan_set *s = &plan->sets[i];

		if (strcmp(s->name, name))
			continue;
		for (size_t j = 0; j < s->nfields; j++)
			fprintf(f, "%s%s", j ? " . " : "", field_expr(s->fields[j]));
		fprintf(f, " vmap @%s", name);
	}
}

static void print_update(FILE *f, const struct plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->nsets; i++) {
		const struct plan_set *s = &plan->sets[i];

		if (strcmp(s->name, name))
			continue;
		fprintf(f, "update @%s { ", name);
		for (size_t j = 0; j < s->nfields; j++)
			fprintf(f, "%s%s", j ? " . " : "", field_expr(s->fields[j]));
		fputs(" }", f);
	}
}

/* nft's unit words of a meter's rate */
static const char *plan_rate_unit(uint32_t seconds)
{
	return seconds == 1 ? "second" : seconds == 60 ? "minute" :
	       seconds == 3600 ? "hour" : "day";
}

static void print_meter(FILE *f, const struct plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->nsets; i++) {
		const struct plan_set *s = &plan->sets[i];

		if (strcmp(s->name, name))
			continue;
		fprintf(f, "update @%s { %s limit rate over %u/%s burst %u packets }", name,
			field_expr(s->fields[0]), s->rate, plan_rate_unit(s->unit), s->burst);
	}
}

static void print_stmt(FILE *f, const struct plan *plan, const struct plan_stmt *s)
{
	switch (s->kind) {
	case PS_IIF_LO: fputs("iif \"lo\"", f); break;
	case PS_OIF_LO: fputs("oif \"lo\"", f); break;
	case PS_CT_STATE: print_ct_state(f, s->arg); break;
	case PS_CT_MARK_SET_BIT: fprintf(f, "ct mark & 0x%08x == 0x%08x", s->arg, s->arg); break;
	case PS_SECPATH_MISSING: fputs("meta ipsec missing", f); break;
	case PS_RT_IPSEC_MISSING: fputs("rt ipsec missing", f); break;
	case PS_IPSEC_REQID_NE: fprintf(f, "ipsec in reqid != %u", s->arg); break;
	case PS_ICMPV6_ND:
		fputs("ip6 hoplimit 255 icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }", f);
		break;
	case PS_L4PROTO_PORTS: fputs("meta l4proto { tcp, udp, sctp }", f); break;
	case PS_L4PROTO_IS: fputs(s->arg == 58 ? "meta l4proto ipv6-icmp" : "meta l4proto icmp", f); break;
	case PS_VMAP: print_vmap(f, plan, s->str); break;
	case PS_COUNTER: fputs("counter", f); break;
	case PS_LIMIT: fprintf(f, "limit rate %u/second burst %u packets", s->arg, 2 * s->arg); break;
	case PS_LOG: fprintf(f, "log prefix \"%s\"", s->str); break;
	case PS_CT_MARK_OR: fprintf(f, "ct mark set ct mark | 0x%08x", s->arg); break;
	case PS_MARK_SET_SPI: fputs("meta mark set ipsec in spi", f); break;
	case PS_CT_MARK_SET_REQID:
		fprintf(f, "ct mark set ipsec %s reqid", s->arg & PLAN_DIR_OUT ? "out" : "in");
		break;
	case PS_BIND_ADD:
		fprintf(f, "add @%s { ct mark . ipsec %s reqid }", PLAN_BOUND_SET,
			s->arg & PLAN_DIR_OUT ? "out" : "in");
		break;
	case PS_BIND_MISSING:
		fprintf(f, "ct mark . ipsec in reqid != @%s", PLAN_BOUND_SET);
		break;
	case PS_ATTEMPT_UPDATE: print_update(f, plan, s->str); break;
	case PS_METER_OVER: print_meter(f, plan, s->str); break;
	case PS_CT_DIRECTION:
		fputs(s->arg == PLAN_CT_REPLY ? "ct direction reply" : "ct direction original", f);
		break;
	}
}

/* Statements nft's parser has no syntax for: setting a mark from the
 * xfrm expression.  sagate apply builds them with libnftnl. */
static bool libnftnl_only(const struct plan_stmt *s)
{
	return s->kind == PS_MARK_SET_SPI || s->kind == PS_CT_MARK_SET_REQID;
}

/* as_nft: write what `nft -f` can load: there the statements above
 * become comments (without them a flow's mark is the require-ipsec bit
 * alone, and its binding is checked per reqid rather than per flow);
 * the JSON output keeps them in line. */
static void print_rule(FILE *f, const struct plan *plan, const struct plan_rule *r,
		       bool as_nft)
{
	char v[96];
	bool sep = false;

	for (size_t i = 0; i < r->nstmts && as_nft; i++) {
		if (r->stmts[i].kind == PS_MARK_SET_SPI)
			fputs("\t\t# + meta mark set ipsec in spi: hands the carrying SA's SPI to sagated;\n"
			      "\t\t#   sagate apply builds it with libnftnl, nft's own syntax cannot say it\n", f);
		if (r->stmts[i].kind == PS_CT_MARK_SET_REQID)
			fprintf(f, "\t\t# + ct mark set ipsec %s reqid (before the | below): binds the flow\n"
				"\t\t#   to its SA's reqid; sagate apply builds it with libnftnl, nft's\n"
				"\t\t#   own syntax cannot say it\n",
				r->stmts[i].arg & PLAN_DIR_OUT ? "out" : "in");
	}
	if (as_nft)
		fputs("\t\t", f);
	for (size_t i = 0; i < r->nstmts; i++) {
		if (as_nft && libnftnl_only(&r->stmts[i]))
			continue;
		if (sep)
			fputc(' ', f);
		print_stmt(f, plan, &r->stmts[i]);
		sep = true;
	}
	plan_format_verdict(v, sizeof(v), &r->verdict);
	if (*v)
		fprintf(f, "%s%s", sep ? " " : "", v);
	if (r->comment)
		fprintf(f, " comment \"%s\"", r->comment);
	if (as_nft)
		fputc('\n', f);
}

static void print_set(FILE *f, const struct plan_set *s, const struct policy *pol)
{
	char key[512], v[96];

	if (s->binding) {
		fprintf(f, "\tset %s {\n\t\ttypeof ct mark . ipsec in reqid\n"
			"\t\tflags dynamic\n\t}\n\n", s->name);
		return;
	}
	if (s->attempts) {
		fprintf(f, "\tset %s {\n\t\ttype ", s->name);
		for (size_t i = 0; i < s->nfields; i++)
			fprintf(f, "%s%s", i ? " . " : "", field_type(s->fields[i]));
		fprintf(f, "\n\t\tsize %u\n\t\tflags dynamic,timeout\n\t\ttimeout %us\n"
			"\t\tcounter\n\t}\n\n", PLAN_ATTEMPTS_SIZE, PLAN_ATTEMPTS_TIMEOUT);
		return;
	}
	if (s->meter) {
		fprintf(f, "\tset %s {\n\t\ttype %s\n\t\tsize %u\n\t\tflags dynamic,timeout\n"
			"\t\ttimeout %us\n\t}\n\n", s->name, field_type(s->fields[0]),
			PLAN_METER_SIZE, s->timeout);
		return;
	}
	fprintf(f, "\tmap %s {\n\t\ttype ", s->name);
	for (size_t i = 0; i < s->nfields; i++)
		fprintf(f, "%s%s", i ? " . " : "", field_type(s->fields[i]));
	fputs(" : verdict\n", f);
	if (s->interval)
		fputs("\t\tflags interval\n", f);
	if (s->counter)
		fputs("\t\tcounter\n", f);
	if (!s->nelems) {
		fputs("\t}\n\n", f);
		return;
	}
	fputs("\t\telements = {", f);
	for (size_t i = 0; i < s->nelems; i++) {
		const struct plan_elem *e = &s->elems[i];

		plan_format_elem_key(key, sizeof(key), s, e);
		plan_format_verdict(v, sizeof(v), &e->verdict);
		if (e->rule == PLAN_NO_RULE)
			fprintf(f, "%s\n\t\t\t%s : %s", i ? "," : "", key, v);
		else
			fprintf(f, "%s\n\t\t\t%s comment \"%s\" : %s", i ? "," : "", key,
				pol->rules[e->rule].name, v);
	}
	fputs("\n\t\t}\n\t}\n\n", f);
}

static void print_chain(FILE *f, const struct plan *plan, const struct plan_chain *c)
{
	fprintf(f, "\tchain %s {\n", c->name);
	if (c->hook != PH_NONE)
		fprintf(f, "\t\ttype filter hook %s priority filter; policy %s;\n",
			plan_hook_name(c->hook), c->policy_drop ? "drop" : "accept");
	for (size_t i = 0; i < c->nrules; i++)
		print_rule(f, plan, &c->rules[i], true);
	fputs("\t}\n", f);
}

int plan_print_nft(FILE *f, const struct plan *plan, const struct policy *pol)
{
	char *source = malloc(PLAN_ESCAPE_MAX(strlen(pol->file)));
	bool first = true;

	if (!source)
		return -1;
	/* the table comment came through plan_escape too; the plan's other
	 * strings are sagate's own words and rule names, which the parser
	 * keeps to letters, digits and "_.-" */
	plan_escape(source, PLAN_ESCAPE_MAX(strlen(pol->file)), pol->file);
	fprintf(f, "#!/usr/sbin/nft -f\n"
		"# compiled by sagate %s from %s (sha256 %s)\n"
		"# mode: %s; %zu kernel rules, %zu set elements for %zu policy rules\n"
		"# Loading replaces table inet sagate in one transaction and touches nothing else.\n\n",
		PACKAGE_VERSION, source, pol->sha256,
		plan->mode == PLAN_ENGINE ? "engine (require-ipsec flows are queued to sagated)" :
		"kernel-only (require-ipsec checked by the kernel alone)",
		plan_rule_count(plan), plan_elem_count(plan), pol->nrules);
	fprintf(f, "table inet %s\ndelete table inet %s\n\ntable inet %s {\n"
		"\tcomment \"%s\"\n\n", PLAN_TABLE, PLAN_TABLE, PLAN_TABLE, plan->comment);
	for (size_t i = 0; i < plan->nsets; i++)
		print_set(f, &plan->sets[i], pol);
	for (size_t i = 0; i < plan->nchains; i++) {
		if (!first)
			fputc('\n', f);
		print_chain(f, plan, &plan->chains[i]);
		first = false;
	}
	fputs("}\n", f);
	free(source);
	return ferror(f) ? -1 : 0;
}

static json_t *set_json(const struct plan_set *s, const struct policy *pol)
{
	json_t *o = json_object(), *fields = json_array(), *elems = json_array();
	char key[512], v[96];

	for (size_t i = 0; i < s->nfields; i++)
		json_array_append_new(fields, json_string(field_expr(s->fields[i])));
	for (size_t i = 0; i < s->nelems; i++) {
		plan_format_elem_key(key, sizeof(key), s, &s->elems[i]);
		plan_format_verdict(v, sizeof(v), &s->elems[i].verdict);
		json_array_append_new(elems, json_pack("{s:s, s:s, s:s?}", "key", key,
						       "verdict", v, "rule",
						       s->elems[i].rule == PLAN_NO_RULE ? NULL :
						       pol->rules[s->elems[i].rule].name));
	}
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "key", fields);
	json_object_set_new(o, "interval", json_boolean(s->interval));
	json_object_set_new(o, "elements", elems);
	return o;
}

static json_t *chain_json(const struct plan *plan, const struct plan_chain *c)
{
	json_t *rules = json_array();

	for (size_t i = 0; i < c->nrules; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);

		if (!m)
			continue;
		print_rule(m, plan, &c->rules[i], false);
		fclose(m);
		json_array_append_new(rules, json_string(text));
		free(text);
	}
	return json_pack("{s:s, s:s?, s:s?, s:o}", "name", c->name,
			 "hook", plan_hook_name(c->hook),
			 "policy", c->hook == PH_NONE ? NULL :
			 c->policy_drop ? "drop" : "accept",
			 "rules", rules);
}

json_t *plan_to_json(const struct plan *plan, const struct policy *pol)
{
	json_t *sets = json_array(), *chains = json_array();

	for (size_t i = 0; i < plan->nsets; i++)
		json_array_append_new(sets, set_json(&plan->sets[i], pol));
	for (size_t i = 0; i < plan->nchains; i++)
		json_array_append_new(chains, chain_json(plan, &plan->chains[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o}",
			 "table", "inet " PLAN_TABLE,
			 "mode", plan->mode == PLAN_ENGINE ? "engine" : "kernel-only",
			 "policy", pol->file, "sha256", pol->sha256,
			 "kernel_rules", (json_int_t)plan_rule_count(plan),
			 "elements", (json_int_t)plan_elem_count(plan),
			 "sets", sets, "chains", chains);
}
