/* vici_ident: the map from a CHILD_SA's inbound SPI to its IKE_SA's
 * remote identity, kept from charon's vici events (vici_ident.h). */
#include "config.h"

#include "vici_ident.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void vici_idmap_init(struct vici_idmap *m)
{
	memset(m, 0, sizeof(*m));
}

static void sa_free(struct vici_ident_sa *s)
{
	free(s->conn);
	free(s->child);
	free(s->ident.id);
	free(s->ident.auth);
}

void vici_idmap_clear(struct vici_idmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		sa_free(&m->sa[i]);
	for (size_t i = 0; i < m->nconns; i++) {
		free(m->conns[i].conn);
		free(m->conns[i].auth);
	}
	m->n = m->nconns = 0;
}

void vici_idmap_fini(struct vici_idmap *m)
{
	vici_idmap_clear(m);
	free(m->sa);
	free(m->conns);
	vici_idmap_init(m);
}

/* A number charon printed with %u (decimal) or %.8x (hex): digits only,
 * no sign, no space, within 32 bits. */
static int num(const char *s, int base, uint32_t *v)
{
	unsigned long long x;
	char *end;

	if (!s || !*s || strlen(s) > (base == 16 ? 8u : 10u))
		return -1;
	for (const char *p = s; *p; p++)
		if (!(*p >= '0' && *p <= '9') &&
		    !(base == 16 && ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))))
			return -1;
	errno = 0;
	x = strtoull(s, &end, base);
	if (errno || *end || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

static const char *const child_live[] = { "INSTALLED", "UPDATING", "REKEYING", "REKEYED", NULL };
static const char *const ike_live[] = { "ESTABLISHED", "REKEYING", "REKEYED", NULL };

/* An IKE_SA's section, as list-sa and the events carry it. */
struct ike {
	const char *conn;
	uint32_t uid;
	const char *remote_id;
	bool established;
};

static int ike_read(const struct vici_node *sec, struct ike *k, char *err, size_t errlen)
{
	const char *state = vici_str(sec, "state");

	k->conn = sec->name;
	k->remote_id = vici_str(sec, "remote-id");
	if (num(vici_str(sec, "uniqueid"), 10, &k->uid) < 0)
		return fail(err, errlen, "IKE_SA '%s': no decimal uniqueid", sec->name);
	if (!k->remote_id)
		return fail(err, errlen, "IKE_SA '%s': no remote-id", sec->name);
	if (!state)
		return fail(err, errlen, "IKE_SA '%s': no state", sec->name);
	k->established = one_of(state, ike_live);
	return 0;
}

/* A CHILD_SA's section. */
struct child {
	const char *name;
	uint32_t uid, reqid, spi;
	bool live;
};

static int child_read(const struct vici_node *sec, struct child *c, char *err, size_t errlen)
{
	const char *state = vici_str(sec, "state");

	c->name = vici_str(sec, "name");
	if (!c->name)
		return fail(err, errlen, "CHILD_SA '%s': no name", sec->name);
	if (num(vici_str(sec, "uniqueid"), 10, &c->uid) < 0)
		return fail(err, errlen, "CHILD_SA '%s': no decimal uniqueid", sec->name);
	if (num(vici_str(sec, "reqid"), 10, &c->reqid) < 0)
		return fail(err, errlen, "CHILD_SA '%s': no decimal reqid", sec->name);
	if (!state)
		return fail(err, errlen, "CHILD_SA '%s': no state", sec->name);
	if (num(vici_str(sec, "spi-in"), 16, &c->spi) < 0)
		return fail(err, errlen, "CHILD_SA '%s': spi-in is not 1-8 hex digits", sec->name);
	c->live = one_of(state, child_live) && c->spi;
	return 0;
}

static void remove_at(struct vici_idmap *m, size_t i)
{
	sa_free(&m->sa[i]);
	m->sa[i] = m->sa[--m->n];
}

/* Remove the CHILD_SA uid of IKE_SA ike_uid, and any SA with its inbound
 * SPI and reqid (a stale entry never outlives its replacement). */
static bool remove_child(struct vici_idmap *m, uint32_t ike_uid, const struct child *c)
{
	bool changed = false;

	for (size_t i = m->n; i-- > 0;)
		if ((m->sa[i].ike_uid == ike_uid && m->sa[i].child_uid == c->uid) ||
		    (c->spi && m->sa[i].spi == c->spi && m->sa[i].reqid == c->reqid)) {
			remove_at(m, i);
			changed = true;
		}
	return changed;
}

static const char *conn_auth(const struct vici_idmap *m, const char *conn)
{
	for (size_t i = 0; i < m->nconns; i++)
		if (!strcmp(m->conns[i].conn, conn))
			return m->conns[i].auth;
	return NULL;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static int add_child(struct vici_idmap *m, const struct ike *k, const struct child *c,
		     char *err, size_t errlen)
{
	struct vici_ident_sa *s;
	bool oom = false;

	remove_child(m, k->uid, c);
	if (!k->established || !c->live)
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		void *p = realloc(m->sa, cap * sizeof(*m->sa));

		if (!p)
			return fail(err, errlen, "out of memory");
		m->sa = p;
		m->cap = cap;
	}
	s = &m->sa[m->n];
	memset(s, 0, sizeof(*s));
	s->spi = c->spi;
	s->reqid = c->reqid;
	s->ike_uid = k->uid;
	s->child_uid = c->uid;
	s->conn = dup_or_null(k->conn, &oom);
	s->child = dup_or_null(c->name, &oom);
	s->ident.id = dup_or_null(k->remote_id, &oom);
	s->ident.auth = dup_or_null(conn_auth(m, k->conn), &oom);
	if (oom) {
		sa_free(s);
		return fail(err, errlen, "out of memory");
	}
	m->n++;
	return 1;
}

/* Each CHILD_SA section of an IKE_SA's child-sas: add (up) or remove it. */
static int children(struct vici_idmap *m, const struct vici_node *ike_sec, const struct ike *k,
		    bool up, char *err, size_t errlen)
{
	const struct vici_node *cs = vici_get(ike_sec, "child-sas", VICI_N_SECTION);
	int changed = 0;

	if (!cs)
		return 0;
	for (const struct vici_node *c = cs->child; c; c = c->next) {
		struct child ch;
		int r;

		if (c->kind != VICI_N_SECTION)
			return fail(err, errlen, "IKE_SA '%s': child-sas holds '%s', not a section",
				    k->conn, c->name);
		if (child_read(c, &ch, err, errlen) < 0)
			return -1;
		if (up)
			r = add_child(m, k, &ch, err, errlen);
		else
			r = remove_child(m, k->uid, &ch);
		if (r < 0)
			return -1;
		changed |= r;
	}
	return changed;
}

/* child-rekey: child-sas { <name> { old {...} new {...} } } */
static int rekey(struct vici_idmap *m, const struct vici_node *ike_sec, const struct ike *k,
		 char *err, size_t errlen)
{
	const struct vici_node *cs = vici_get(ike_sec, "child-sas", VICI_N_SECTION);
	int changed = 0;

	if (!cs)
		return fail(err, errlen, "child-rekey of IKE_SA '%s' without child-sas", k->conn);
	for (const struct vici_node *c = cs->child; c; c = c->next) {
		const struct vici_node *o = vici_get(c, "old", VICI_N_SECTION);
		const struct vici_node *n = vici_get(c, "new", VICI_N_SECTION);
		struct child oc, nc;
		int r;

		if (c->kind != VICI_N_SECTION || !o || !n)
			return fail(err, errlen, "child-rekey of IKE_SA '%s': '%s' has no old and new sections",
				    k->conn, c->name);
		if (child_read(o, &oc, err, errlen) < 0 || child_read(n, &nc, err, errlen) < 0)
			return -1;
		/* the old SA still carries what is in flight while it is
		 * REKEYED; child-updown (down) removes it when it goes */
		if (!oc.live)
			changed |= remove_child(m, k->uid, &oc);
		r = add_child(m, k, &nc, err, errlen);
		if (r < 0)
			return -1;
		changed |= r;
	}
	return changed;
}

static int conns(struct vici_idmap *m, const struct vici_node *msg, char *err, size_t errlen)
{
	static const struct { const char *vici, *ours; } classes[] = {
		{ "public key", "pubkey" }, { "pre-shared key", "psk" },
		{ "EAP", "eap" }, { "XAuth", "xauth" }, { "any", NULL },
	};
	int changed = 0;

	for (const struct vici_node *c = msg->child; c; c = c->next) {
		const struct vici_node *r1;
		const char *cls, *ours = NULL;
		struct vici_conn_auth *a;
		size_t i;

		if (c->kind != VICI_N_SECTION)
			return fail(err, errlen, "list-conn: '%s' is not a connection section", c->name);
		r1 = vici_get(c, "remote-1", VICI_N_SECTION);
		cls = r1 ? vici_str(r1, "class") : NULL;
		for (i = 0; cls && i < sizeof(classes) / sizeof(classes[0]); i++)
			if (!strcmp(cls, classes[i].vici))
				break;
		if (cls && i == sizeof(classes) / sizeof(classes[0]))
			return fail(err, errlen, "list-conn '%s': unknown auth class '%s'", c->name, cls);
		if (cls)
			ours = classes[i].ours;
		for (i = 0; i < m->nconns && strcmp(m->conns[i].conn, c->name); i++)
			;
		if (i == m->nconns) {
			if (m->nconns == m->conncap) {
				size_t cap = m->conncap ? 2 * m->conncap : 8;
				void *p = realloc(m->conns, cap * sizeof(*m->conns));

				if (!p)
					return fail(err, errlen, "out of memory");
				m->conns = p;
				m->conncap = cap;
			}
			a = &m->conns[m->nconns];
			a->conn = strdup(c->name);
			a->auth = NULL;
			if (!a->conn)
				return fail(err, errlen, "out of memory");
			m->nconns++;
		}
		a = &m->conns[i];
		free(a->auth);
		a->auth = ours ? strdup(ours) : NULL;
		if (ours && !a->auth)
			return fail(err, errlen, "out of memory");
		/* SAs learnt before their connection was listed */
		for (size_t j = 0; j < m->n; j++)
			if (!strcmp(m->sa[j].conn, c->name)) {
				free(m->sa[j].ident.auth);
				m->sa[j].ident.auth = ours ? strdup(ours) : NULL;
				if (ours && !m->sa[j].ident.auth)
					return fail(err, errlen, "out of memory");
				changed = 1;
			}
	}
	return changed;
}

int vici_idmap_event(struct vici_idmap *m, const char *event, const struct vici_node *msg,
		     char *err, size_t errlen)
{
	enum { LIST, IKE_UPDOWN, IKE_REKEY, CHILD_UPDOWN, CHILD_REKEY } ev;
	bool up;
	int changed = 0;

	if (!strcmp(event, "list-conn"))
		return conns(m, msg, err, errlen);
	if (!strcmp(event, "list-sa"))
		ev = LIST;
	else if (!strcmp(event, "ike-updown"))
		ev = IKE_UPDOWN;
	else if (!strcmp(event, "ike-rekey"))
		ev = IKE_REKEY;
	else if (!strcmp(event, "child-updown"))
		ev = CHILD_UPDOWN;
	else if (!strcmp(event, "child-rekey"))
		ev = CHILD_REKEY;
	else
		return 0;
	up = vici_get(msg, "up", VICI_N_KV) != NULL;
	for (const struct vici_node *sec = msg->child; sec; sec = sec->next) {
		struct ike k;
		int r = 0;

		if (sec->kind != VICI_N_SECTION)
			continue;	/* "up" and keys charon may add */
		if (ev == IKE_REKEY) {
			const struct vici_node *o = vici_get(sec, "old", VICI_N_SECTION);
			const struct vici_node *n = vici_get(sec, "new", VICI_N_SECTION);
			struct ike ok, nk;

			if (!o || !n)
				return fail(err, errlen, "ike-rekey of '%s' without old and new sections", sec->name);
			if (ike_read(o, &ok, err, errlen) < 0 || ike_read(n, &nk, err, errlen) < 0)
				return -1;
			/* the CHILD_SAs move to the new IKE_SA */
			for (size_t i = 0; i < m->n; i++)
				if (m->sa[i].ike_uid == ok.uid) {
					m->sa[i].ike_uid = nk.uid;
					changed = 1;
				}
			continue;
		}
		if (ike_read(sec, &k, err, errlen) < 0)
			return -1;
		switch (ev) {
		case LIST:
			r = children(m, sec, &k, true, err, errlen);
			break;
		case IKE_UPDOWN:
			if (!up)
				for (size_t i = m->n; i-- > 0;)
					if (m->sa[i].ike_uid == k.uid) {
						remove_at(m, i);
						r = 1;
					}
			break;
		case CHILD_UPDOWN:
			r = children(m, sec, &k, up, err, errlen);
			break;
		case CHILD_REKEY:
			r = rekey(m, sec, &k, err, errlen);
			break;
		default:
			break;
		}
		if (r < 0)
			return -1;
		changed |= r;
	}
	return changed;
}

const struct sa_ident *vici_idmap_lookup(const struct vici_idmap *m, uint32_t spi, uint32_t reqid)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->sa[i].spi == spi && (!reqid || m->sa[i].reqid == reqid))
			return &m->sa[i].ident;
	return NULL;
}

const struct sa_ident *vici_idmap_lookup_fn(void *ctx, uint32_t spi, uint32_t reqid)
{
	return vici_idmap_lookup(ctx, spi, reqid);
}
