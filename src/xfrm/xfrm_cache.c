/* xfrm_cache: the SAs the kernel holds, kept from its XFRM messages
 * (xfrm.h): a hash of chains on the SPI, the lookup of an inbound
 * packet's SA, and what each message (NEWSA, UPDSA, DELSA, EXPIRE,
 * FLUSHSA) does to it.  The messages are read by xfrm.c's parsers. */
#include "config.h"

#include "xfrm.h"
#include "xfrm_int.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* IPSEC_PROTO_ANY of <linux/ipsec.h>, whose value is ABI: a FLUSHSA of
 * every IPsec protocol */
#define SAGATE_IPSEC_PROTO_ANY 255

/* Separate chaining on the SPI alone, so that every SA of one SPI
 * (whatever its destination, protocol or mark) sits in one chain. */

struct node {
	struct xfrm_sa sa;
	struct node *next;
};

struct xfrm_cache {
	struct node **buckets;
	unsigned shift;		/* nbuckets = 1 << shift */
	size_t count;
};

#define CACHE_MIN_SHIFT 6
#define CACHE_MAX_SHIFT 30

static size_t bucket_of(unsigned shift, uint32_t spi)
{
	return (uint32_t)(spi * 2654435761u) >> (32 - shift);
}

static bool same_key(const struct xfrm_sa *a, const struct xfrm_sa *b)
{
	return a->spi == b->spi && a->proto == b->proto && a->fam == b->fam &&
	       a->daddr == b->daddr && a->mark_v == b->mark_v && a->mark_m == b->mark_m;
}

struct xfrm_cache *xfrm_cache_alloc(void)
{
	struct xfrm_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->shift = CACHE_MIN_SHIFT;
	c->buckets = calloc((size_t)1 << c->shift, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	return c;
}

void xfrm_cache_free(struct xfrm_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ((size_t)1 << c->shift); i++) {
		struct node *n = c->buckets[i];

		while (n) {
			struct node *next = n->next;

			free(n);
			n = next;
		}
	}
	free(c->buckets);
	free(c);
}

size_t xfrm_cache_count(const struct xfrm_cache *c)
{
	return c->count;
}

/* Doubling keeps chains short; failing to grow only costs speed. */
static void maybe_grow(struct xfrm_cache *c)
{
	size_t old = (size_t)1 << c->shift;
	struct node **nb;

	if (c->count <= old || c->shift >= CACHE_MAX_SHIFT)
		return;
	nb = calloc(old * 2, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < old; i++) {
		struct node *n = c->buckets[i];

		while (n) {
			struct node *next = n->next;
			size_t b = bucket_of(c->shift + 1, n->sa.spi);

			n->next = nb[b];
			nb[b] = n;
			n = next;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->shift++;
}

static struct node **find_slot(const struct xfrm_cache *c, const struct xfrm_sa *key)
{
	struct node **pp = &c->buckets[bucket_of(c->shift, key->spi)];

	while (*pp && !same_key(&(*pp)->sa, key))
		pp = &(*pp)->next;
	return pp;
}

int xfrm_cache_put(struct xfrm_cache *c, const struct xfrm_sa *sa)
{
	struct node **pp = find_slot(c, sa), *n = *pp;

	if (!n) {
		n = malloc(sizeof(*n));
		if (!n)
			return -1;
		n->next = NULL;
		*pp = n;
		c->count++;
	}
	n->sa = *sa;
	n->sa.dying = false;
	n->sa.expired = false;
	n->sa.expired_at = 0;
	n->sa.key_only = false;
	maybe_grow(c);
	return 0;
}

bool xfrm_cache_del(struct xfrm_cache *c, const struct xfrm_sa *sa)
{
	struct node **pp = find_slot(c, sa), *n = *pp;

	if (!n)
		return false;
	*pp = n->next;
	free(n);
	c->count--;
	return true;
}

bool xfrm_cache_expire(struct xfrm_cache *c, const struct xfrm_sa *sa,
		       bool hard, uint64_t now)
{
	struct node *n = *find_slot(c, sa);

	if (!n)
		return false;
	if (hard) {
		if (!n->sa.expired)
			n->sa.expired_at = now;
		n->sa.expired = true;
	} else {
		n->sa.dying = true;
	}
	return true;
}

/* Remove every node for which drop() says so. */
static size_t remove_if(struct xfrm_cache *c,
			bool (*drop)(const struct xfrm_sa *, const void *),
			const void *arg)
{
	size_t removed = 0;

	for (size_t i = 0; i < ((size_t)1 << c->shift); i++) {
		struct node **pp = &c->buckets[i];

		while (*pp) {
			struct node *n = *pp;

			if (drop(&n->sa, arg)) {
				*pp = n->next;
				free(n);
				removed++;
			} else {
				pp = &n->next;
			}
		}
	}
	c->count -= removed;
	return removed;
}

static bool flush_match(const struct xfrm_sa *sa, const void *arg)
{
	uint8_t proto = *(const uint8_t *)arg;

	return proto == 0 || sa->proto == proto ||
	       (proto == SAGATE_IPSEC_PROTO_ANY &&
		(sa->proto == XFRM_PROTO_ESP || sa->proto == XFRM_PROTO_AH ||
		 sa->proto == XFRM_PROTO_COMP));
}

size_t xfrm_cache_flush(struct xfrm_cache *c, uint8_t proto)
{
	return remove_if(c, flush_match, &proto);
}

struct sweep_arg {
	uint64_t now, keep;
};

static bool sweep_match(const struct xfrm_sa *sa, const void *arg)
{
	const struct sweep_arg *s = arg;

	return sa->expired && s->now >= sa->expired_at &&
	       s->now - sa->expired_at >= s->keep;
}

size_t xfrm_cache_sweep(struct xfrm_cache *c, uint64_t now, uint64_t keep)
{
	struct sweep_arg s = { now, keep };

	return remove_if(c, sweep_match, &s);
}

const struct xfrm_sa *xfrm_cache_find(const struct xfrm_cache *c,
				      const struct xfrm_sa *key)
{
	struct node *n = *find_slot(c, key);

	return n ? &n->sa : NULL;
}

size_t xfrm_cache_lookup(const struct xfrm_cache *c, uint32_t spi,
			 enum addr_family fam, u128 dst,
			 const struct xfrm_sa **out)
{
	const struct xfrm_sa *exact = NULL, *tunnel = NULL;
	size_t nexact = 0, ntunnel = 0;

	for (struct node *n = c->buckets[bucket_of(c->shift, spi)]; n; n = n->next) {
		const struct xfrm_sa *sa = &n->sa;

		if (sa->spi != spi || sa->dir == XFRM_SA_OUT)
			continue;
		if (sa->fam == fam && sa->daddr == dst) {
			exact = sa;
			nexact++;
		} else if (sa->mode == XFRM_SA_TUNNEL) {
			tunnel = sa;
			ntunnel++;
		}
	}
	if (nexact) {
		*out = nexact == 1 ? exact : NULL;
		return nexact;
	}
	*out = ntunnel == 1 ? tunnel : NULL;
	return ntunnel;
}

void xfrm_cache_foreach(const struct xfrm_cache *c,
			void (*fn)(const struct xfrm_sa *, void *), void *arg)
{
	for (size_t i = 0; i < ((size_t)1 << c->shift); i++)
		for (struct node *n = c->buckets[i]; n; n = n->next)
			fn(&n->sa, arg);
}

static bool spi_match(const struct xfrm_sa *sa, const void *arg)
{
	return sa->spi == *(const uint32_t *)arg;
}

size_t xfrm_cache_del_spi(struct xfrm_cache *c, uint32_t spi)
{
	return remove_if(c, spi_match, &spi);
}

/* The SPI (host order) a message of type names at a fixed offset, as far
 * as its length shows it: 0 when it is too short to tell. */
static uint32_t msg_spi(const struct nlmsghdr *nlh)
{
	size_t off, plen = nlh->nlmsg_len - MNL_NLMSG_HDRLEN;
	uint32_t spi;

	switch (nlh->nlmsg_type) {
	case XFRM_MSG_NEWSA:
	case XFRM_MSG_UPDSA:
		off = offsetof(struct xfrm_usersa_info, id.spi);
		break;
	case XFRM_MSG_DELSA:
		off = offsetof(struct xfrm_usersa_id, spi);
		break;
	case XFRM_MSG_EXPIRE:
		off = offsetof(struct xfrm_user_expire, state.id.spi);
		break;
	default:
		return 0;
	}
	if (plen < off + sizeof(spi))
		return 0;
	memcpy(&spi, (const char *)mnl_nlmsg_get_payload(nlh) + off, sizeof(spi));
	return ntohl(spi);
}

/* A message about an SA that cannot be read leaves nothing of that SPI
 * trusted. */
static int distrust(struct xfrm_cache *c, const struct nlmsghdr *nlh)
{
	uint32_t spi = msg_spi(nlh);

	if (spi)
		xfrm_cache_del_spi(c, spi);
	return -1;
}

int xfrm_cache_apply(struct xfrm_cache *c, const struct nlmsghdr *nlh,
		     uint64_t now, struct diag_list *d)
{
	struct xfrm_sa sa;
	uint8_t proto;
	bool hard;

	if (xfrm_check_len(nlh, 0, "", d) < 0)
		return -1;
	switch (nlh->nlmsg_type) {
	case XFRM_MSG_NEWSA:
		if (xfrm_parse_sa(nlh, &sa, d) < 0)
			return distrust(c, nlh);
		/* the whole entry is replaced, never merged: an SA changed
		 * in place under its key is a new SA */
		if (xfrm_cache_put(c, &sa) < 0) {
			xfrm_cache_del(c, &sa);
			return xfrm_fail(d, "out of memory adding SA spi 0x%08x", sa.spi);
		}
		return 1;
	case XFRM_MSG_UPDSA:
		/* the kernel announces the SA as it was asked for, while an
		 * update of a valid SA keeps its transforms and mode: the
		 * message says nothing reliable but the key */
		if (xfrm_parse_sa(nlh, &sa, d) < 0)
			return distrust(c, nlh);
		xfrm_cache_del(c, &sa);
		return XFRM_APPLY_CONFIRM;
	case XFRM_MSG_DELSA:
		if (xfrm_parse_sa(nlh, &sa, d) < 0)
			return distrust(c, nlh);
		return xfrm_cache_del(c, &sa);
	case XFRM_MSG_EXPIRE:
		if (xfrm_parse_expire(nlh, &sa, &hard, d) < 0)
			return distrust(c, nlh);
		return xfrm_cache_expire(c, &sa, hard, now);
	case XFRM_MSG_FLUSHSA:
		if (xfrm_parse_flush(nlh, &proto, d) < 0)
			return -1;
		return xfrm_cache_flush(c, proto) > 0;
	default:
		return 0;
	}
}
