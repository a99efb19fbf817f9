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

/* What one dump feeds its messages to. */
struct dump {
	const char *what;
	struct diag_list *d;
	struct xfrm_cache *sas;
	struct xfrm_spd_list *spd;
	bool oom;
};

/* Add p to the SPD list; a message the parser rejected (its reason in why)
 * is skipped with a warning. */
static void spd_add(struct dump *x, const struct nlmsghdr *nlh, struct diag_list *why)
{
	struct xfrm_spd p;

	if (xfrm_parse_policy(nlh, &p, why) < 0) {
		diag_add(x->d, DIAG_WARNING, "xfrm", "policy dump", NULL,
			 "an SPD entry was skipped: %s", diag_last(why));
		return;
	}
	if (grow_array(&x->spd->v, &x->spd->cap, x->spd->n + 1, sizeof(p)) < 0) {
		x->oom = true;
		return;
	}
	x->spd->v[x->spd->n++] = p;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *x = data;
	struct diag_list why;

	diag_list_init(&why);
	if (x->spd) {
		spd_add(x, nlh, &why);
	} else if (xfrm_cache_apply(x->sas, nlh, (uint64_t)time(NULL), &why) < 0) {
		diag_add(x->d, DIAG_WARNING, "xfrm", "SA dump", NULL,
			 "an SA was skipped: %s", diag_last(&why));
	}
	diag_list_fini(&why);
	return x->oom ? MNL_CB_ERROR : MNL_CB_OK;
}

static int run_dump(uint16_t type, struct dump *x)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_XFRM);
	char req[MNL_NLMSG_HDRLEN + 64] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	char *buf = malloc(DUMP_BUF);
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
		ret = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, dump_cb, x);
		if (ret <= MNL_CB_STOP)
			break;
	}
out:
	if (!buf || x->oom)
		diag_add(x->d, DIAG_ERROR, "xfrm", "", NULL, "out of memory reading the %s", x->what);
	else if (n < 0 || ret < 0)
		diag_add(x->d, DIAG_ERROR, "xfrm", "", NULL,
			 "cannot dump the kernel's %s over XFRM netlink: %s (root or CAP_NET_ADMIN is needed)",
			 x->what, strerror(errno));
	if (buf)
		explicit_bzero(buf, DUMP_BUF);	/* SA dumps carry key material */
	free(buf);
	if (nl)
		mnl_socket_close(nl);
	return !buf || x->oom || n < 0 || ret < 0 ? -1 : 0;
}

int xfrm_dump_sas(struct xfrm_cache *c, struct diag_list *d)
{
	struct dump x = { .what = "SAs", .d = d, .sas = c };

	return run_dump(XFRM_MSG_GETSA, &x);
}

int xfrm_dump_spd(struct xfrm_spd_list *l, struct diag_list *d)
{
	struct dump x = { .what = "IPsec policies (SPD)", .d = d, .spd = l };

	return run_dump(XFRM_MSG_GETPOLICY, &x);
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
