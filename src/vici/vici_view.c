/* vici_view: list-conn and list-sa event messages into an ike_view. */
#include "config.h"

#include "util.h"
#include "vici_view.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The items of list name in section n as traffic selectors. */
static int read_ts(const struct vici_node *n, const char *name, const char *where,
		   struct ike_ts_list *out, char *err, size_t errlen)
{
	const struct vici_node *l = vici_get(n, name, VICI_N_LIST), *it;
	size_t count = 0;

	*out = (struct ike_ts_list){ 0 };
	for (it = l ? l->child : NULL; it; it = it->next)
		count++;
	if (!count)
		return 0;
	if (!(out->v = calloc(count, sizeof(*out->v))))
		return fail(err, errlen, "out of memory");
	for (it = l->child; it; it = it->next) {
		if (!it->value || strlen(it->value) != it->vlen ||
		    ike_ts_parse(it->value, &out->v[out->n]) < 0)
			return fail(err, errlen, "%s: %s: \"%.64s\" is no traffic selector sagate reads",
				    where, name, it->value ? it->value : "");
		out->n++;
	}
	return 0;
}

static int read_child(const struct vici_node *s, const char *conn, struct ike_child_cfg *ch,
		      char *err, size_t errlen)
{
	char where[256];

	snprintf(where, sizeof(where), "connection %s child %s", conn, s->name);
	if (!vici_str(s, "mode"))
		return fail(err, errlen, "%s: no mode", where);
	if (!(ch->name = strdup(s->name)) || !(ch->mode = strdup(vici_str(s, "mode"))))
		return fail(err, errlen, "out of memory");
	if (read_ts(s, "local-ts", where, &ch->local, err, errlen) < 0)
		return -1;
	return read_ts(s, "remote-ts", where, &ch->remote, err, errlen);
}

static int read_conn(const struct vici_node *s, struct ike_conn_cfg *c, char *err, size_t errlen)
{
	const struct vici_node *l = vici_get(s, "remote_addrs", VICI_N_LIST), *it;
	const struct vici_node *auth = vici_get(s, "remote-1", VICI_N_SECTION);
	const struct vici_node *kids = vici_get(s, "children", VICI_N_SECTION);
	size_t n = 0;

	if (!(c->name = strdup(s->name)))
		return fail(err, errlen, "out of memory");
	for (it = l ? l->child : NULL; it; it = it->next)
		if (!it->value || ike_addrs_add(&c->remote, it->value) < 0)
			return fail(err, errlen, "connection %s: remote_addrs unreadable", c->name);
	if (addr_set_normalize(&c->remote) < 0)
		return fail(err, errlen, "out of memory");
	if (auth && ((vici_str(auth, "id") && !(c->remote_id = strdup(vici_str(auth, "id")))) ||
		     (vici_str(auth, "class") && !(c->remote_class = strdup(vici_str(auth, "class"))))))
		return fail(err, errlen, "out of memory");
	for (it = kids ? kids->child : NULL; it; it = it->next)
		n += it->kind == VICI_N_SECTION;
	if (n && !(c->children = calloc(n, sizeof(*c->children))))
		return fail(err, errlen, "out of memory");
	for (it = kids ? kids->child : NULL; it; it = it->next) {
		if (it->kind != VICI_N_SECTION)
			continue;
		c->nchildren++;
		if (read_child(it, c->name, &c->children[c->nchildren - 1], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int vici_view_add_conns(struct ike_view *v, const struct vici_node *msg, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	for (const struct vici_node *s = msg ? msg->child : NULL; s; s = s->next) {
		struct ike_conn_cfg c = { 0 }, *nv;

		if (s->kind != VICI_N_SECTION)
			continue;
		if (read_conn(s, &c, err, errlen) < 0 ||
		    !(nv = realloc(v->conns, (v->nconns + 1) * sizeof(*nv)))) {
			if (!err[0])
				fail(err, errlen, "out of memory");
			ike_conn_cfg_fini(&c);
			return -1;
		}
		v->conns = nv;
		v->conns[v->nconns++] = c;
	}
	return 0;
}

/* One CHILD_SA of IKE_SA ike; 1 added, 0 skipped (not installed), -1. */
static int read_sa(const struct vici_node *ike, const struct vici_node *cs,
		   struct ike_child_sa *sa, char *err, size_t errlen)
{
	const char *spi = vici_str(cs, "spi-in"), *reqid = vici_str(cs, "reqid");
	char *end;
	unsigned long x;

	if (!spi)
		return 0;
	x = strtoul(spi, &end, 16);
	if (!*spi || *end || x == 0 || x > 0xffffffffUL)
		return fail(err, errlen, "IKE_SA %s child %s: spi-in \"%.16s\" is no SPI",
			    ike->name, cs->name, spi);
	sa->spi_in = (uint32_t)x;
	if (reqid) {
		x = strtoul(reqid, &end, 10);
		if (!*reqid || *end || x > 0xffffffffUL)
			return fail(err, errlen, "IKE_SA %s child %s: reqid \"%.16s\" is no number",
				    ike->name, cs->name, reqid);
		sa->reqid = (uint32_t)x;
	}
	sa->conn = strdup(ike->name);
	sa->child = xstrdup_or_null(vici_str(cs, "name") ? vici_str(cs, "name") : cs->name);
	sa->mode = xstrdup_or_null(vici_str(cs, "mode"));
	sa->remote_id = xstrdup_or_null(vici_str(ike, "remote-id"));
	if (!sa->conn || !sa->child || (vici_str(cs, "mode") && !sa->mode) ||
	    (vici_str(ike, "remote-id") && !sa->remote_id))
		return fail(err, errlen, "out of memory");
	return 1;
}

int vici_view_add_sas(struct ike_view *v, const struct vici_node *msg, char *err, size_t errlen)
{
	for (const struct vici_node *ike = msg ? msg->child : NULL; ike; ike = ike->next) {
		const struct vici_node *kids = ike->kind == VICI_N_SECTION ?
			vici_get(ike, "child-sas", VICI_N_SECTION) : NULL;

		for (const struct vici_node *cs = kids ? kids->child : NULL; cs; cs = cs->next) {
			struct ike_child_sa sa = { 0 }, *nv;
			int rc;

			if (cs->kind != VICI_N_SECTION)
				continue;
			if ((rc = read_sa(ike, cs, &sa, err, errlen)) <= 0) {
				ike_child_sa_fini(&sa);
				if (rc < 0)
					return -1;
				continue;
			}
			if (!(nv = realloc(v->sas, (v->nsas + 1) * sizeof(*nv)))) {
				ike_child_sa_fini(&sa);
				return fail(err, errlen, "out of memory");
			}
			v->sas = nv;
			v->sas[v->nsas++] = sa;
		}
	}
	return 0;
}
