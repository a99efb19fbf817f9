/* nfq-bench: the two helpers of bench/engine.
 *
 *   nfq-bench bare QUEUE RCVBUF MAXLEN
 *	The reference consumer: a bare libnetfilter_queue (mnl API) loop,
 *	one recv and one NF_ACCEPT verdict per packet, as in libnetfilter_queue's
 *	examples/nf-queue.c; headers copied (256 bytes), like sagated.
 *	Prints "ready" once bound; runs until killed.
 *   nfq-bench send SRC DST DPORT_FIRST DPORTS START COUNT
 *	COUNT UDP datagrams from SRC to DST through a raw socket, each with a
 *	new (source port, destination port) pair: pair k (from START on) has
 *	source port 1024 + k % 64512 and destination port DPORT_FIRST +
 *	(k / 64512) % DPORTS, so every datagram starts a new conntrack flow
 *	and rounds with consecutive STARTs never repeat one.  Prints "sent N".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "nfq-bench: %s: %s\n", what, strerror(errno));
	return 1;
}

static int config(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	char buf[8192];

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (n < 0)
			return -1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

			errno = -e->error;
			return e->error ? -1 : 0;
		}
	}
}

static int bare(unsigned queue, int rcvbuf, unsigned maxlen)
{
	static char buf[65536 + 4096];
	char vbuf[256];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlmsghdr *nlh;
	int one = 1;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return die("socket");
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
	mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof one);
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (config(nl, nlh) < 0)
		return die("bind");
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 256);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	if (config(nl, nlh) < 0)
		return die("params");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
		struct nlattr *attr[NFQA_MAX + 1] = { 0 };
		struct nfqnl_msg_packet_hdr *ph;

		if (n < 0) {
			if (errno == ENOBUFS || errno == EINTR)
				continue;
			return die("recv");
		}
		nlh = (struct nlmsghdr *)buf;
		if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) ||
		    nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
			continue;
		ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
		nlh = nfq_nlmsg_put(vbuf, NFQNL_MSG_VERDICT, queue);
		nfq_nlmsg_verdict_put(nlh, (int)ntohl(ph->packet_id), NF_ACCEPT);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			return die("verdict");
	}
}

static int send_udp(const char *src, const char *dst, unsigned dfirst, unsigned dports,
		    unsigned long start, unsigned long count)
{
	struct {
		struct iphdr ip;
		struct udphdr udp;
		char data[32];
	} p;
	struct sockaddr_in to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	unsigned long sent = 0;

	if (fd < 0)
		return die("raw socket");
	memset(&p, 0, sizeof p);
	p.ip.version = 4;
	p.ip.ihl = 5;
	p.ip.ttl = 64;
	p.ip.protocol = IPPROTO_UDP;
	p.ip.tot_len = htons(sizeof p);
	if (inet_pton(AF_INET, src, &p.ip.saddr) != 1 || inet_pton(AF_INET, dst, &p.ip.daddr) != 1)
		return die("address");
	to.sin_addr.s_addr = p.ip.daddr;
	p.udp.len = htons(sizeof p.udp + sizeof p.data);
	for (unsigned long i = 0; i < count; i++) {
		unsigned long k = start + i;

		p.udp.source = htons((uint16_t)(1024 + k % 64512));
		p.udp.dest = htons((uint16_t)(dfirst + (k / 64512) % dports));
		/* the kernel fills the IP checksum; UDP checksum 0: none */
		if (sendto(fd, &p, sizeof p, 0, (struct sockaddr *)&to, sizeof to) < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				i--;
				continue;
			}
			return die("sendto");
		}
		sent++;
	}
	printf("sent %lu\n", sent);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "bare"))
		return bare((unsigned)atoi(argv[2]), atoi(argv[3]), (unsigned)atoi(argv[4]));
	if (argc == 8 && !strcmp(argv[1], "send"))
		return send_udp(argv[2], argv[3], (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]),
				strtoul(argv[6], NULL, 10), strtoul(argv[7], NULL, 10));
	fprintf(stderr, "usage: nfq-bench bare QUEUE RCVBUF MAXLEN | "
			"send SRC DST DPORT_FIRST DPORTS START COUNT\n");
	return 2;
}
