#include "config.h"

#include "xfrm_dump.h"
#include "util.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DUMP_BUF (64u << 10)	/* the kernel fills dump pages of up to 16 KiB */

/* What one dump feeds its messages to: one of sas, spd, reqids. */
struct dump {
	const char *what;
	enum diag_severity unreadable;	/* what a dump the kernel refuses is */
	struct diag_list *d;
	struct xfrm_cache *sas;
	struct xfrm_spd_list *spd;
	struct reqids {
		uint32_t *v;
		size_t n, cap;
	} *reqids;
};

/* A message the parser rejected (its reason in why) is skipped with a
 * warning, not fatal: one bad SA must not hide the others. */
static void skipped(struct dump *x, const char *path, const char *what,
		    const struct diag_list *why)
{
	diag_add(x->d, DIAG_WARNING, "xfrm", path, NULL, "%s was skipped: %s", what,
		 diag_last(why));
}

static int out_of_memory(struct dump *x)
{
	diag_add(x->d, DIAG_ERROR, "xfrm", "", NULL, "out of memory reading the %s", x->what);
	return -1;
}

/* The adders: 0, or -1 with an error in x->d (out of memory), which ends
 * the dump. */
static int sa_add(struct dump *x, const struct nlmsghdr *nlh, struct diag_list *why)
{
	if (xfrm_cache_apply(x->sas, nlh, (uint64_t)time(NULL), why) < 0)
		skipped(x, "SA dump", "an SA", why);
	return 0;
}

static int spd_add(struct dump *x, const struct nlmsghdr *nlh, struct diag_list *why)
{
	struct xfrm_spd p;

	if (xfrm_parse_policy(nlh, &p, why) < 0) {
		skipped(x, "policy dump", "an SPD entry", why);
		return 0;
	}
	if (grow_array(&x->spd->v, &x->spd->cap, x->spd->n + 1, sizeof(p)) < 0)
		return out_of_memory(x);
	x->spd->v[x->spd->n++] = p;
	return 0;
}

static int reqid_add(struct dump *x, const struct nlmsghdr *nlh, struct diag_list *why)
{
	struct reqids *r = x->reqids;
	struct xfrm_sa sa;

	if (nlh->nlmsg_type != XFRM_MSG_NEWSA)
		return 0;	/* a dump answers with NEWSA */
	if (xfrm_parse_sa(nlh, &sa, why) < 0) {
		skipped(x, "SA dump", "an SA", why);
		return 0;
	}
	if (grow_array(&r->v, &r->cap, r->n + 1, sizeof(*r->v)) < 0)
		return out_of_memory(x);
	r->v[r->n++] = sa.reqid;
	return 0;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *x = data;
	struct diag_list why;
	int rc;

	diag_list_init(&why);
	if (x->spd)
		rc = spd_add(x, nlh, &why);
	else if (x->reqids)
		rc = reqid_add(x, nlh, &why);
	else
		rc = sa_add(x, nlh, &why);
	diag_list_fini(&why);
	return rc < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int run_dump(uint16_t type, struct dump *x)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_XFRM);
	char req[MNL_NLMSG_HDRLEN + 64] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	char *buf = malloc(DUMP_BUF);
	size_t errors = x->d->errors;	/* an adder's error has said why the dump ended */
	uint32_t portid;
	ssize_t n = -1;
	int ret = MNL_CB_OK;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	if (!nl || !buf || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	portid = mnl_socket_get_portid(nl);
	while ((n = mnl_socket_recvfrom(nl, buf, DUMP_BUF)) > 0) {
		ret = mnl_cb_run(buf, netlink_span(buf, (size_t)n), nlh->nlmsg_seq, portid, dump_cb, x);
		if (ret <= MNL_CB_STOP)
			break;
	}
out:
	if (!buf)
		out_of_memory(x);
	else if ((n < 0 || ret < 0) && x->d->errors == errors)
		diag_add(x->d, x->unreadable, "xfrm", "", NULL,
			 "cannot dump the kernel's %s over XFRM netlink: %s (root or CAP_NET_ADMIN is needed)",
			 x->what, strerror(errno));
	if (buf)
		explicit_bzero(buf, DUMP_BUF);	/* SA dumps carry key material */
	free(buf);
	if (nl)
		mnl_socket_close(nl);
	return !buf || n < 0 || ret < 0 ? -1 : 0;
}

int xfrm_dump_sas(struct xfrm_cache *c, struct diag_list *d)
{
	struct dump x = { .what = "SAs", .unreadable = DIAG_ERROR, .d = d, .sas = c };

	return run_dump(XFRM_MSG_GETSA, &x);
}

int xfrm_dump_spd(struct xfrm_spd_list *l, struct diag_list *d)
{
	struct dump x = { .what = "IPsec policies (SPD)", .unreadable = DIAG_ERROR, .d = d, .spd = l };

	return run_dump(XFRM_MSG_GETPOLICY, &x);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int xfrm_dump_reqids(uint32_t **reqids, size_t *n, struct diag_list *d)
{
	struct reqids r = { NULL, 0, 0 };
	struct dump x = { .what = "SAs", .unreadable = DIAG_WARNING, .d = d, .reqids = &r };
	size_t errors = d->errors, kept = 0;

	*reqids = NULL;
	*n = 0;
	if (run_dump(XFRM_MSG_GETSA, &x) < 0) {
		free(r.v);
		return d->errors > errors ? -1 : 0;
	}
	if (r.n > 1)
		qsort(r.v, r.n, sizeof(*r.v), u32_cmp);
	for (size_t i = 0; i < r.n; i++)
		if (!kept || r.v[i] != r.v[kept - 1])
			r.v[kept++] = r.v[i];
	*reqids = r.v;
	*n = kept;
	return 0;
}

void xfrm_spd_list_fini(struct xfrm_spd_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct collect {
	const struct xfrm_sa **v;
	size_t n;
};

static void collect_one(const struct xfrm_sa *sa, void *arg)
{
	struct collect *c = arg;

	c->v[c->n++] = sa;
}

static int sa_cmp(const void *a, const void *b)
{
	const struct xfrm_sa *x = *(const struct xfrm_sa *const *)a;
	const struct xfrm_sa *y = *(const struct xfrm_sa *const *)b;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	if (x->saddr != y->saddr)
		return x->saddr < y->saddr ? -1 : 1;
	if (x->daddr != y->daddr)
		return x->daddr < y->daddr ? -1 : 1;
	return x->spi < y->spi ? -1 : x->spi > y->spi;
}

const struct xfrm_sa **xfrm_dump_sorted(const struct xfrm_cache *c, size_t *n)
{
	struct collect col = { NULL, 0 };
	size_t total = xfrm_cache_count(c);

	*n = 0;
	if (!total || !(col.v = calloc(total, sizeof(*col.v))))
		return NULL;
	xfrm_cache_foreach(c, collect_one, &col);
	qsort(col.v, col.n, sizeof(*col.v), sa_cmp);
	*n = col.n;
	return col.v;
}
