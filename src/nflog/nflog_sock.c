/* nflog_sock: an nfnetlink_log group bound over libmnl, read message by
 * message; the group's readers as /proc lists them; the journal socket. */
#include "config.h"

#include "nflog_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

struct nflog_sock {
	struct mnl_socket *nl;
	uint16_t group;
	uint32_t seq;
	char *buf;		/* MNL_SOCKET_BUFFER_SIZE: one read */
};

/* One config message for the group, with its attributes; waits for the ack. */
static int config(struct nflog_sock *s, uint8_t cmd, bool mode)
{
	char req[512];	/* one small message out, its ack back */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	struct nfgenmsg *g;
	int n;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++s->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(s->group);
	if (cmd) {
		struct nfulnl_msg_config_cmd c = { .command = cmd };

		mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(c), &c);
	}
	if (mode) {
		struct nfulnl_msg_config_mode m = { .copy_range = htonl(NFLOG_COPY),
						    .copy_mode = NFULNL_COPY_PACKET };

		mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(m), &m);
		/* one packet, one message, at once: a log line must not wait
		 * for a batch to fill or a timer */
		mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
		mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(0));
	}
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	n = (int)mnl_socket_recvfrom(s->nl, s->buf, MNL_SOCKET_BUFFER_SIZE);
	if (n < 0)
		return -1;
	/* the ack; a packet message racing it is dropped with the rest */
	return mnl_cb_run(s->buf, (size_t)n, s->seq, mnl_socket_get_portid(s->nl), NULL, NULL) < 0 ?
	       -1 : 0;
}

struct nflog_sock *nflog_sock_open(uint16_t group)
{
	struct nflog_sock *s = calloc(1, sizeof(*s));
	int e;

	if (!s)
		return NULL;
	s->group = group;
	s->seq = (uint32_t)time(NULL);
	if (!(s->buf = malloc(MNL_SOCKET_BUFFER_SIZE)) ||
	    !(s->nl = mnl_socket_open(NETLINK_NETFILTER)) ||
	    mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    config(s, NFULNL_CFG_CMD_BIND, false) < 0 || config(s, 0, true) < 0)
		goto fail;
	return s;
fail:
	e = errno;
	nflog_sock_close(s);
	errno = e;
	return NULL;
}

void nflog_sock_close(struct nflog_sock *s)
{
	if (!s)
		return;
	if (s->nl)
		mnl_socket_close(s->nl);	/* the kernel unbinds the group with it */
	free(s->buf);
	free(s);
}

int nflog_sock_read(struct nflog_sock *s, nflog_cb cb, void *data, unsigned long *lost,
		    unsigned long *bad)
{
	ssize_t n = mnl_socket_recvfrom(s->nl, s->buf, MNL_SOCKET_BUFFER_SIZE);
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)s->buf;
	int left;

	if (n < 0) {
		if (errno == ENOBUFS)
			(*lost)++;
		return -1;
	}
	left = (int)n;
	for (; nflog_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		struct nflog_rec r;
		const char *why;
		int rc = nflog_msg_parse(nlh, (size_t)left, &r, &why);

		if (rc < 0)
			(*bad)++;
		else if (rc > 0 && (rc = cb(&r, data)) != 0)
			return rc;
	}
	return 0;
}

int nflog_group_has_reader(uint16_t group)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_log", "re");
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned g;

		if (sscanf(line, "%u", &g) == 1 && g == group)
			found = 1;
	}
	fclose(f);
	return found;
}

int nflog_journal_send(const char *path, const char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc, e;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path ? path : JOURNAL_SOCKET);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	rc = sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -1 : 0;
	e = errno;
	close(fd);
	errno = e;
	return rc;
}
