/* fuzz_xfrm: libFuzzer target for the XFRM message parsers (SAs, expiries,
 * flushes, SPD entries) and the SA cache they feed.
 *
 * Input: 4 bytes of clock (seconds, little-endian; the cache's "now"),
 * then a stream of netlink messages as the kernel would send them on the
 * dump and the multicast groups, each applied to one cache in turn and
 * offered to the SPD parser too.  Checked after every message: a failed
 * message never adds an SA; an update leaves nothing trusted under its
 * key until it is fetched; an SA just put is found by its key and by an
 * inbound lookup of its SPI and destination; an SA just deleted is gone;
 * the count equals what a walk of the cache visits.  At the end every SA
 * is described as `sagate sa` would, and the cache is swept. */
#include "config.h"

#include "diag.h"
#include "sa_match.h"
#include "util.h"
#include "xfrm.h"
#include "xfrm_policy.h"

#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, uint32_t spi)
{
	fprintf(stderr, "fuzz_xfrm: %s (spi 0x%08x)\n", what, spi);
	abort();
}

struct walk {
	size_t n;
	uint64_t now;
};

static void visit(const struct xfrm_sa *sa, void *arg)
{
	struct walk *w = arg;
	char buf[256];

	w->n++;
	sa_match_algs(buf, sizeof(buf), sa);
	(void)sa_match_time_left(sa, w->now, true);
	(void)sa_match_time_left(sa, w->now, false);
	(void)xfrm_sa_encrypts(sa);
	(void)xfrm_sa_expired(sa, w->now);
	(void)xfrm_sa_dying(sa, w->now);
	if (!xfrm_mode_name(sa->mode) || !xfrm_proto_name(sa->proto))
		fail("an SA without a mode or protocol name", sa->spi);
}

static size_t walk_count(const struct xfrm_cache *c, uint64_t now)
{
	struct walk w = { 0, now };

	xfrm_cache_foreach(c, visit, &w);
	return w.n;
}

/* After UPDSA applied: the message is not trusted for the SA (the kernel
 * keeps a valid SA's transforms whatever it announces), so nothing is
 * left under its key until a GETSA answer puts it back. */
static void check_update(const struct xfrm_cache *c, const struct nlmsghdr *nlh, int rc)
{
	struct diag_list d;
	struct xfrm_sa sa;

	diag_list_init(&d);
	if (xfrm_parse_sa(nlh, &sa, &d) < 0)
		fail("an update the cache took does not parse", 0);
	diag_list_fini(&d);
	if (rc != XFRM_APPLY_CONFIRM)
		fail("an update does not ask for the SA to be fetched", sa.spi);
	if (xfrm_cache_find(c, &sa))
		fail("an SA announced by an update is trusted before it is fetched", sa.spi);
}

/* After NEWSA applied: the SA is there under its key, and an
 * inbound packet to its destination finds it (unless it is outbound). */
static void check_put(const struct xfrm_cache *c, const struct nlmsghdr *nlh)
{
	struct diag_list d;
	struct xfrm_sa sa;
	const struct xfrm_sa *got, *via = NULL;

	diag_list_init(&d);
	if (xfrm_parse_sa(nlh, &sa, &d) < 0)
		fail("an SA the cache took does not parse", 0);
	diag_list_fini(&d);
	got = xfrm_cache_find(c, &sa);
	if (!got || got->spi != sa.spi || got->proto != sa.proto || got->fam != sa.fam ||
	    got->daddr != sa.daddr || got->expired || got->dying)
		fail("an SA just put is not found as it was put", sa.spi);
	if (sa.dir == XFRM_SA_OUT)
		return;
	if (xfrm_cache_lookup(c, sa.spi, sa.fam, sa.daddr, &via) == 0)
		fail("an inbound lookup misses an SA just put", sa.spi);
	if (via && (via->spi != sa.spi || via->dir == XFRM_SA_OUT))
		fail("an inbound lookup found another SPI or an outbound SA", sa.spi);
}

static void check_del(const struct xfrm_cache *c, const struct nlmsghdr *nlh)
{
	struct diag_list d;
	struct xfrm_sa sa;

	diag_list_init(&d);
	if (xfrm_parse_sa(nlh, &sa, &d) < 0)
		fail("a DELSA the cache took does not parse", 0);
	diag_list_fini(&d);
	if (xfrm_cache_find(c, &sa))
		fail("an SA just deleted is still found", sa.spi);
}

static void spd(const struct nlmsghdr *nlh)
{
	struct diag_list d;
	struct xfrm_spd p;

	diag_list_init(&d);
	if (xfrm_parse_policy(nlh, &p, &d) == 0) {
		if (p.ntmpl > XFRM_SPD_MAX_TMPL)
			fail("more templates than kept", 0);
		(void)xfrm_spd_requires(&p);
		(void)xfrm_spd_covers_peer(&p, AF4, 0x0a000001);
		(void)xfrm_spd_covers_peer(&p, AF6, (u128)0xfd00 << 112 | 1);
		(void)xfrm_spd_dir_name(p.dir);
	} else if (d.errors == 0) {
		fail("an SPD entry refused without a reason", 0);
	}
	diag_list_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfrm_cache *c;
	uint64_t now;
	uint8_t *buf;
	const struct nlmsghdr *nlh;
	int len;

	if (size < 4 || size > (1u << 20))
		return 0;
	now = (uint64_t)data[0] | (uint64_t)data[1] << 8 | (uint64_t)data[2] << 16 |
	      (uint64_t)data[3] << 24;
	/* the messages at an address the kernel's buffer would give them */
	buf = malloc(size - 4 + 1);
	c = xfrm_cache_alloc();
	if (!buf || !c)
		abort();
	memcpy(buf, data + 4, size - 4);
	nlh = (const struct nlmsghdr *)buf;
	len = (int)netlink_span(buf, size - 4);	/* whole messages only, as sagated walks */
	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		size_t before = xfrm_cache_count(c);
		struct diag_list d;
		int rc;

		diag_list_init(&d);
		rc = xfrm_cache_apply(c, nlh, now, &d);
		if (rc < 0 && d.errors == 0)
			fail("a message refused without a reason", 0);
		if (rc < 0 && xfrm_cache_count(c) > before)
			fail("a refused message added an SA", 0);
		diag_list_fini(&d);
		if (rc > 0 && nlh->nlmsg_type == XFRM_MSG_NEWSA)
			check_put(c, nlh);
		if (rc > 0 && nlh->nlmsg_type == XFRM_MSG_UPDSA)
			check_update(c, nlh, rc);
		if (rc > 0 && nlh->nlmsg_type == XFRM_MSG_DELSA)
			check_del(c, nlh);
		if (walk_count(c, now) != xfrm_cache_count(c))
			fail("the count is not what a walk visits", 0);
		spd(nlh);
	}
	xfrm_cache_sweep(c, now + 60, 30);
	if (walk_count(c, now + 60) != xfrm_cache_count(c))
		fail("the count after a sweep is not what a walk visits", 0);
	xfrm_cache_free(c);
	free(buf);
	return 0;
}
