/* udpflood: the traffic of bench/run's per-packet benchmark.
 *
 *   udpflood send SRC DST DPORT SECONDS single|many
 *	Flood UDP from SRC to DST:DPORT for SECONDS through a raw IPv4 socket
 *	(IP_HDRINCL), 64 packets per sendmmsg. "single": every packet has
 *	source port 1000 (one flow); before the clock starts, a hello is
 *	sent and the sink's reply awaited, so that connection tracking sees
 *	the flow as established. "many": the source port cycles through
 *	1024..65535, one port per packet, and nothing ever replies, so every
 *	packet is in conntrack state new and goes through the ruleset's
 *	lookups. Prints "sent N seconds S".
 *   udpsink PORT [reply]
 *	Bind UDP PORT and hold it (so that no ICMP port-unreachable is sent);
 *	with "reply", answer the first datagram, then stop reading. The
 *	benchmark counts packets with an nft counter, not here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PAYLOAD 32
#define SINGLE_SPORT 1000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static struct in_addr addr(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "udpflood: bad IPv4 address %s\n", s);
		exit(2);
	}
	return a;
}

struct pkt {
	struct iphdr ip;
	struct udphdr udp;
	char data[PAYLOAD];
} __attribute__((packed));

/* single mode: make the flow established before the clock starts */
static void handshake(struct in_addr src, struct in_addr dst, int dport)
{
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr = src,
				  .sin_port = htons(SINGLE_SPORT) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst,
				  .sin_port = htons((uint16_t)dport) };
	int one = 1, fd = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[64];

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
		die("bind");
	for (int i = 0; i < 50; i++) {	/* the sink may still be starting */
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (sendto(fd, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			die("sendto");
		if (poll(&p, 1, 100) == 1 && recv(fd, buf, sizeof(buf), 0) >= 0)
			return;		/* fd stays open: it absorbs later replies */
	}
	fprintf(stderr, "udpflood: no reply from the sink: flow not established\n");
	exit(1);
}

static int do_send(int argc, char **argv)
{
	static struct pkt pk[BATCH];
	static struct mmsghdr m[BATCH];
	static struct iovec iov[BATCH];
	struct in_addr src, dst;
	struct sockaddr_in to = { .sin_family = AF_INET };
	int dport, many, fd;
	double secs, t0, t;
	unsigned long long sent = 0;
	unsigned sport = 1024;

	if (argc != 7) {
		fprintf(stderr, "usage: udpflood send SRC DST DPORT SECONDS single|many\n");
		return 2;
	}
	src = addr(argv[2]);
	dst = addr(argv[3]);
	dport = atoi(argv[4]);
	secs = atof(argv[5]);
	many = !strcmp(argv[6], "many");
	if (!many && strcmp(argv[6], "single")) {
		fprintf(stderr, "udpflood: mode is single or many\n");
		return 2;
	}
	to.sin_addr = dst;
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);	/* implies IP_HDRINCL */
	if (fd < 0)
		die("socket(raw)");
	if (!many)
		handshake(src, dst, dport);
	for (int i = 0; i < BATCH; i++) {
		pk[i].ip = (struct iphdr){ .version = 4, .ihl = 5, .ttl = 64,
					   .protocol = IPPROTO_UDP,
					   .tot_len = htons(sizeof(struct pkt)),
					   .saddr = src.s_addr, .daddr = dst.s_addr };
		pk[i].udp = (struct udphdr){ .source = htons(SINGLE_SPORT),
					     .dest = htons((uint16_t)dport),
					     .len = htons(sizeof(struct udphdr) + PAYLOAD) };
		memset(pk[i].data, 'x', PAYLOAD);
		iov[i] = (struct iovec){ .iov_base = &pk[i], .iov_len = sizeof(pk[i]) };
		m[i].msg_hdr = (struct msghdr){ .msg_name = &to, .msg_namelen = sizeof(to),
						.msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	t0 = now();
	do {
		if (many)
			for (int i = 0; i < BATCH; i++) {
				pk[i].udp.source = htons((uint16_t)sport);
				sport = sport == 65535 ? 1024 : sport + 1;
			}
		int n = sendmmsg(fd, m, BATCH, 0);

		if (n < 0 && errno != ENOBUFS && errno != EINTR)
			die("sendmmsg");
		if (n > 0)
			sent += (unsigned)n;
		t = now();
	} while (t - t0 < secs);
	printf("sent %llu seconds %.6f\n", sent, t - t0);
	return 0;
}

static int do_sink(int argc, char **argv)
{
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[2048];
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: udpflood sink PORT [reply]\n");
		return 2;
	}
	me.sin_port = htons((uint16_t)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
		die("sink bind");
	printf("ready\n");
	fflush(stdout);
	if (argc > 3 && !strcmp(argv[3], "reply")) {
		if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl) < 0)
			die("recvfrom");
		if (sendto(fd, "ok", 2, 0, (struct sockaddr *)&from, fl) < 0)
			die("sendto");
	}
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "send"))
		return do_send(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "sink"))
		return do_sink(argc, argv);
	fprintf(stderr, "usage: udpflood send|sink ...\n");
	return 2;
}
