/* vici_msg: decoding and encoding of vici packets and messages (see
 * vici_msg.h for the format's limits and why the code is ours). */
#include "config.h"

#include "vici_msg.h"

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

void vici_node_free(struct vici_node *n)
{
	while (n) {
		struct vici_node *next = n->next;

		vici_node_free(n->child);	/* depth is bounded by VICI_DEPTH_MAX + 2 */
		free(n->name);
		free(n->value);
		free(n);
		n = next;
	}
}

/* An open container while decoding: where the next child goes. */
struct open {
	struct vici_node *node;
	struct vici_node *tail;
	unsigned count;
};

struct dec {
	const uint8_t *p;
	size_t len, off;
	char *err;
	size_t errlen;
};

static bool name_ok(const uint8_t *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* A name (8-bit length) at the current offset, copied. */
static char *take_name(struct dec *d, const char *what)
{
	size_t n;
	char *s;

	if (d->off >= d->len) {
		fail(d->err, d->errlen, "offset %zu: %s name length expected, message ends", d->off, what);
		return NULL;
	}
	n = d->p[d->off];
	if (n > d->len - d->off - 1) {
		fail(d->err, d->errlen, "offset %zu: %s name of %zu bytes, only %zu left",
		     d->off, what, n, d->len - d->off - 1);
		return NULL;
	}
	if (!name_ok(d->p + d->off + 1, n)) {
		fail(d->err, d->errlen, "offset %zu: %s name must be 1-255 printable ASCII characters",
		     d->off, what);
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		fail(d->err, d->errlen, "out of memory");
		return NULL;
	}
	memcpy(s, d->p + d->off + 1, n);
	s[n] = 0;
	d->off += 1 + n;
	return s;
}

/* A value (16-bit big-endian length) at the current offset, copied with a NUL added. */
static char *take_value(struct dec *d, size_t *vlen, const char *what)
{
	size_t n;
	char *s;

	if (d->len - d->off < 2) {
		fail(d->err, d->errlen, "offset %zu: %s value length expected, message ends", d->off, what);
		return NULL;
	}
	n = (size_t)d->p[d->off] << 8 | d->p[d->off + 1];
	if (n > d->len - d->off - 2) {
		fail(d->err, d->errlen, "offset %zu: %s value of %zu bytes, only %zu left",
		     d->off, what, n, d->len - d->off - 2);
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		fail(d->err, d->errlen, "out of memory");
		return NULL;
	}
	memcpy(s, d->p + d->off + 2, n);
	s[n] = 0;
	*vlen = n;
	d->off += 2 + n;
	return s;
}

/* Append n to the open container o; refuses a name already there. */
static int add_child(struct dec *d, struct open *o, struct vici_node *n, size_t at)
{
	if (o->count >= VICI_CHILDREN_MAX)
		return fail(d->err, d->errlen, "offset %zu: more than %d elements in one %s",
			    at, VICI_CHILDREN_MAX, o->node->kind == VICI_N_LIST ? "list" : "section");
	if (n->name)
		for (const struct vici_node *c = o->node->child; c; c = c->next)
			if (c->name && !strcmp(c->name, n->name))
				return fail(d->err, d->errlen, "offset %zu: duplicate name '%s' in a section",
					    at, n->name);
	if (o->tail)
		o->tail->next = n;
	else
		o->node->child = n;
	o->tail = n;
	o->count++;
	return 0;
}

struct vici_node *vici_msg_parse(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct open st[VICI_DEPTH_MAX + 2];
	struct dec d = { buf, len, 0, err, errlen };
	unsigned top = 0, nodes = 0;
	struct vici_node *root;

	root = calloc(1, sizeof(*root));
	if (!root) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	root->kind = VICI_N_SECTION;
	st[0] = (struct open){ root, NULL, 0 };

	while (d.off < d.len) {
		size_t at = d.off;
		uint8_t t = d.p[d.off++];
		bool in_list = st[top].node->kind == VICI_N_LIST;
		struct vici_node *n = NULL;

		if (in_list && t != VICI_LIST_ITEM && t != VICI_LIST_END) {
			fail(err, errlen, "offset %zu: element type %u inside list '%s' (only items and its end may follow)",
			     at, t, st[top].node->name);
			goto bad;
		}
		if (++nodes > VICI_NODES_MAX) {
			fail(err, errlen, "offset %zu: more than %d elements in one message", at, VICI_NODES_MAX);
			goto bad;
		}
		switch (t) {
		case VICI_SECTION_START:
		case VICI_KEY_VALUE:
		case VICI_LIST_START:
			if (t == VICI_SECTION_START && top > VICI_DEPTH_MAX - 1) {
				fail(err, errlen, "offset %zu: sections nested deeper than %d", at, VICI_DEPTH_MAX);
				goto bad;
			}
			n = calloc(1, sizeof(*n));
			if (!n) {
				fail(err, errlen, "out of memory");
				goto bad;
			}
			n->kind = t == VICI_SECTION_START ? VICI_N_SECTION :
				  t == VICI_KEY_VALUE ? VICI_N_KV : VICI_N_LIST;
			n->name = take_name(&d, t == VICI_SECTION_START ? "section" :
					    t == VICI_KEY_VALUE ? "key" : "list");
			if (!n->name ||
			    (t == VICI_KEY_VALUE && !(n->value = take_value(&d, &n->vlen, "key"))) ||
			    add_child(&d, &st[top], n, at) < 0) {
				vici_node_free(n);
				goto bad;
			}
			if (t != VICI_KEY_VALUE)
				st[++top] = (struct open){ n, NULL, 0 };
			break;
		case VICI_LIST_ITEM:
			if (!in_list) {
				fail(err, errlen, "offset %zu: list item outside a list", at);
				goto bad;
			}
			n = calloc(1, sizeof(*n));
			if (!n) {
				fail(err, errlen, "out of memory");
				goto bad;
			}
			n->kind = VICI_N_ITEM;
			if (!(n->value = take_value(&d, &n->vlen, "list item")) ||
			    add_child(&d, &st[top], n, at) < 0) {
				vici_node_free(n);
				goto bad;
			}
			break;
		case VICI_SECTION_END:
		case VICI_LIST_END:
			if (t == VICI_LIST_END && !in_list) {
				fail(err, errlen, "offset %zu: list end without an open list", at);
				goto bad;
			}
			if (t == VICI_SECTION_END && top == 0) {
				fail(err, errlen, "offset %zu: section end without an open section", at);
				goto bad;
			}
			top--;
			break;
		default:
			fail(err, errlen, "offset %zu: unknown element type %u (1-6 expected)", at, t);
			goto bad;
		}
	}
	if (top) {
		fail(err, errlen, "offset %zu: message ends inside %s '%s'", d.off,
		     st[top].node->kind == VICI_N_LIST ? "list" : "section", st[top].node->name);
		goto bad;
	}
	return root;
bad:
	vici_node_free(root);
	return NULL;
}

static bool named(enum vici_pkt t)
{
	return t == VICI_CMD_REQUEST || t == VICI_EVENT_REGISTER ||
	       t == VICI_EVENT_UNREGISTER || t == VICI_EVENT;
}

static bool has_msg(enum vici_pkt t)
{
	return t == VICI_CMD_REQUEST || t == VICI_CMD_RESPONSE || t == VICI_EVENT;
}

int vici_packet_parse(const uint8_t *buf, size_t len, struct vici_packet *p,
		      char *err, size_t errlen)
{
	char sub[200];
	size_t off = 1;

	memset(p, 0, sizeof(*p));
	if (len == 0)
		return fail(err, errlen, "empty packet (a type byte expected)");
	if (len > VICI_PACKET_MAX)
		return fail(err, errlen, "packet of %zu bytes (at most %d)", len, VICI_PACKET_MAX);
	if (buf[0] > VICI_EVENT)
		return fail(err, errlen, "unknown packet type %u (0-7 expected)", buf[0]);
	p->type = buf[0];
	if (named(p->type)) {
		size_t n = len > 1 ? buf[1] : 0;

		if (len < 2 || n > len - 2)
			return fail(err, errlen, "packet type %u: name of %zu bytes, only %zu left",
				    p->type, n, len < 2 ? 0 : len - 2);
		if (!name_ok(buf + 2, n))
			return fail(err, errlen, "packet type %u: name must be 1-255 printable ASCII characters",
				    p->type);
		memcpy(p->name, buf + 2, n);
		p->name[n] = 0;
		off = 2 + n;
	}
	if (!has_msg(p->type)) {
		if (off != len)
			return fail(err, errlen, "packet type %u carries no message, %zu bytes follow",
				    p->type, len - off);
		return 0;
	}
	p->msg = vici_msg_parse(buf + off, len - off, sub, sizeof(sub));
	if (!p->msg)
		return fail(err, errlen, "packet type %u%s%s: message at byte %zu: %s", p->type,
			    p->name[0] ? " " : "", p->name, off, sub);
	return 0;
}

void vici_packet_fini(struct vici_packet *p)
{
	vici_node_free(p->msg);
	p->msg = NULL;
}

const struct vici_node *vici_get(const struct vici_node *n, const char *name, enum vici_kind kind)
{
	if (!n || n->kind != VICI_N_SECTION)
		return NULL;
	for (const struct vici_node *c = n->child; c; c = c->next)
		if (c->kind == kind && c->name && !strcmp(c->name, name))
			return c;
	return NULL;
}

const char *vici_str(const struct vici_node *n, const char *name)
{
	const struct vici_node *kv = vici_get(n, name, VICI_N_KV);

	return kv && strlen(kv->value) == kv->vlen ? kv->value : NULL;
}

/* ------------------------------------------------------------------ encoder */

static void put(struct vici_enc *e, const void *b, size_t n)
{
	if (e->failed)
		return;
	if (e->len + n > 4 + VICI_PACKET_MAX) {
		e->failed = true;
		return;
	}
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 256;
		uint8_t *p;

		while (cap < e->len + n)
			cap *= 2;
		p = realloc(e->data, cap);
		if (!p) {
			e->failed = true;
			return;
		}
		e->data = p;
		e->cap = cap;
	}
	memcpy(e->data + e->len, b, n);
	e->len += n;
}

static void put_name(struct vici_enc *e, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	uint8_t l = (uint8_t)n;

	if (!name_ok((const uint8_t *)name, n) || n > VICI_NAME_MAX) {
		e->failed = true;
		return;
	}
	put(e, &l, 1);
	put(e, name, n);
}

static void put_value(struct vici_enc *e, const char *v)
{
	size_t n = v ? strlen(v) : 0;
	uint8_t l[2] = { (uint8_t)(n >> 8), (uint8_t)n };

	if (!v || n > VICI_VALUE_MAX) {
		e->failed = true;
		return;
	}
	put(e, l, 2);
	put(e, v, n);
}

static void put_type(struct vici_enc *e, enum vici_elem t, bool list_elem)
{
	uint8_t b = (uint8_t)t;

	if (e->in_list != list_elem)
		e->failed = true;
	put(e, &b, 1);
}

void vici_enc_begin(struct vici_enc *e, enum vici_pkt t, const char *name)
{
	uint8_t hdr[5] = { 0, 0, 0, 0, (uint8_t)t };

	memset(e, 0, sizeof(*e));
	put(e, hdr, sizeof(hdr));
	if (named(t))
		put_name(e, name);
	else if (name || t > VICI_EVENT)
		e->failed = true;
}

void vici_enc_section(struct vici_enc *e, const char *name)
{
	if (++e->depth > VICI_DEPTH_MAX)
		e->failed = true;
	put_type(e, VICI_SECTION_START, false);
	put_name(e, name);
}

void vici_enc_section_end(struct vici_enc *e)
{
	if (!e->depth)
		e->failed = true;
	else
		e->depth--;
	put_type(e, VICI_SECTION_END, false);
}

void vici_enc_kv(struct vici_enc *e, const char *name, const char *value)
{
	put_type(e, VICI_KEY_VALUE, false);
	put_name(e, name);
	put_value(e, value);
}

void vici_enc_list(struct vici_enc *e, const char *name)
{
	put_type(e, VICI_LIST_START, false);
	put_name(e, name);
	e->in_list = true;
}

void vici_enc_item(struct vici_enc *e, const char *value)
{
	put_type(e, VICI_LIST_ITEM, true);
	put_value(e, value);
}

void vici_enc_list_end(struct vici_enc *e)
{
	put_type(e, VICI_LIST_END, true);
	e->in_list = false;
}

int vici_enc_end(struct vici_enc *e)
{
	size_t n = e->len - 4;

	if (e->failed || e->depth || e->in_list || e->len < 5)
		return -1;
	e->data[0] = (uint8_t)(n >> 24);
	e->data[1] = (uint8_t)(n >> 16);
	e->data[2] = (uint8_t)(n >> 8);
	e->data[3] = (uint8_t)n;
	return 0;
}

void vici_enc_fini(struct vici_enc *e)
{
	free(e->data);
	memset(e, 0, sizeof(*e));
}
