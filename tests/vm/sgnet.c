/*
 * sgnet: tiny network helpers for the QEMU scenarios (tests/vm/scenario-*.sh),
 * built by `make check` (or at test time when run by hand), so that the test bed needs no python or nping.
 *
 *   sgnet listen PORT BANNER
 *       Listen on [::]:PORT (IPv4 and IPv6); write BANNER and a newline to
 *       every client, then close.  A stand-in for sshd.
 *   sgnet inject IFACE DSTMAC SRC DST SPORT DPORT COUNT
 *       Send COUNT cleartext TCP segments (ACK|PSH, payload "INJECTED")
 *       from SRC:SPORT to DST:DPORT as raw Ethernet frames on IFACE, with
 *       any source address (a spoofer).  SRC and DST are both IPv4 or both
 *       IPv6.  Prints "sent N".
 *   sgnet udpflows DST PORT FLOWS PKTS GAP_MS
 *       FLOWS UDP flows to DST:PORT (IPv4), each from a socket of its own
 *       (so a source port of its own) sending PKTS datagrams back to back,
 *       GAP_MS milliseconds apart.  Prints "flows N".
 *   sgnet connflood DST PORT SECONDS INFLIGHT
 *       New TCP flows to DST:PORT (IPv4) for SECONDS, INFLIGHT connects
 *       at a time; a flow counts once its SYN was answered (connected, or
 *       refused: the firewall let it through), and is reset at once (no
 *       TIME_WAIT).  A connect unanswered after 1 s is given up.  Prints
 *       "flows N timeouts M".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int do_listen(const char *port, const char *banner)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0, s, c;

	signal(SIGPIPE, SIG_IGN);
	a.sin6_port = htons((uint16_t)atoi(port));
	s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 16)) {
		perror("sgnet listen");
		return 1;
	}
	for (;;) {
		c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		if (write(c, banner, strlen(banner)) < 0 || write(c, "\n", 1) < 0)
			perror("sgnet write");
		close(c);
	}
}

static uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;

	for (; n > 1; n -= 2, b += 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (n)
		s += (uint32_t)b[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static int parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}

static int do_inject(char **av)
{
	const char payload[] = "INJECTED";
	uint8_t f[128] = { 0 }, src6[16], dst6[16], *ip, *tcp;
	struct sockaddr_ll ll = { .sll_family = AF_PACKET };
	struct in_addr src4, dst4;
	struct ifreq ifr = { 0 };
	int v6, s, count, sent = 0;
	size_t iplen, tcplen = 20 + sizeof(payload) - 1, len;
	uint32_t ps;

	v6 = strchr(av[2], ':') != NULL;
	if ((v6 ? inet_pton(AF_INET6, av[2], src6) : inet_pton(AF_INET, av[2], &src4)) != 1 ||
	    (v6 ? inet_pton(AF_INET6, av[3], dst6) : inet_pton(AF_INET, av[3], &dst4)) != 1 ||
	    parse_mac(av[1], f)) {
		fprintf(stderr, "sgnet inject: bad address\n");
		return 2;
	}
	count = atoi(av[6]);
	s = socket(AF_PACKET, SOCK_RAW, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", av[0]);
	if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr)) {
		perror("sgnet inject");
		return 1;
	}
	memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
	ll.sll_ifindex = (int)if_nametoindex(av[0]);
	ll.sll_halen = 6;
	memcpy(ll.sll_addr, f, 6);
	ip = f + 14;
	if (v6) {
		f[12] = 0x86, f[13] = 0xdd;
		iplen = 40;
		ip[0] = 0x60;
		ip[4] = (uint8_t)(tcplen >> 8), ip[5] = (uint8_t)tcplen;
		ip[6] = IPPROTO_TCP, ip[7] = 64;
		memcpy(ip + 8, src6, 16);
		memcpy(ip + 24, dst6, 16);
		ps = sum16(ip + 8, 32, 0) + (uint32_t)tcplen + IPPROTO_TCP;
	} else {
		f[12] = 0x08, f[13] = 0x00;
		iplen = 20;
		ip[0] = 0x45;
		ip[2] = (uint8_t)((iplen + tcplen) >> 8), ip[3] = (uint8_t)(iplen + tcplen);
		ip[6] = 0x40, ip[8] = 64, ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, &src4, 4);
		memcpy(ip + 16, &dst4, 4);
		memcpy(ip + 10, (uint16_t[]){ fold(sum16(ip, 20, 0)) }, 2);
		ps = sum16(ip + 12, 8, 0) + (uint32_t)tcplen + IPPROTO_TCP;
	}
	tcp = ip + iplen;
	tcp[0] = (uint8_t)(atoi(av[4]) >> 8), tcp[1] = (uint8_t)atoi(av[4]);
	tcp[2] = (uint8_t)(atoi(av[5]) >> 8), tcp[3] = (uint8_t)atoi(av[5]);
	tcp[12] = 5 << 4, tcp[13] = 0x18;	/* ACK|PSH */
	tcp[14] = 0xff, tcp[15] = 0xff;
	memcpy(tcp + 20, payload, sizeof(payload) - 1);
	len = 14 + iplen + tcplen;
	for (int i = 0; i < count; i++) {
		uint32_t seq = 0x10000000u + (uint32_t)i * 0x01000000u;

		tcp[4] = (uint8_t)(seq >> 24), tcp[5] = (uint8_t)(seq >> 16);
		tcp[6] = (uint8_t)(seq >> 8), tcp[7] = (uint8_t)seq;
		tcp[16] = tcp[17] = 0;
		memcpy(tcp + 16, (uint16_t[]){ fold(sum16(tcp, tcplen, ps)) }, 2);
		if (sendto(s, f, len, 0, (struct sockaddr *)&ll, sizeof(ll)) == (ssize_t)len)
			sent++;
		else
			perror("sgnet inject: sendto");
	}
	printf("sent %d\n", sent);
	return sent == count ? 0 : 1;
}

static int dst4(const char *addr, const char *port, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, addr, &a->sin_addr) == 1 ? 0 : -1;
}

static int do_udpflows(char **av)
{
	int flows = atoi(av[2]), pkts = atoi(av[3]), gap = atoi(av[4]), done = 0;
	struct sockaddr_in a;

	if (dst4(av[0], av[1], &a) < 0) {
		fprintf(stderr, "sgnet udpflows: bad address\n");
		return 2;
	}
	for (int i = 0; i < flows; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0), sent = 0;

		if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("sgnet udpflows");
			return 1;
		}
		for (int k = 0; k < pkts; k++)
			sent += send(s, "FLOW", 4, 0) == 4;
		close(s);
		done += sent == pkts;
		if (gap)
			usleep((useconds_t)gap * 1000);
	}
	printf("flows %d\n", done);
	return done == flows ? 0 : 1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define FLOOD_MAX 256

/* One connect slot: reset the socket, then start a new connect. */
static int flood_open(struct pollfd *p, double *since, const struct sockaddr_in *a)
{
	struct linger lg = { 1, 0 };

	if (p->fd >= 0)
		close(p->fd);
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (p->fd < 0 || setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		return -1;
	p->events = POLLOUT;
	*since = now_s();
	if (connect(p->fd, (const struct sockaddr *)a, sizeof(*a)) < 0 && errno != EINPROGRESS)
		return -1;
	return 0;
}

static int do_connflood(char **av)
{
	struct pollfd p[FLOOD_MAX];
	double since[FLOOD_MAX], end;
	long flows = 0, timeouts = 0;
	int n = atoi(av[3]);
	struct sockaddr_in a;

	if (dst4(av[0], av[1], &a) < 0 || n < 1 || n > FLOOD_MAX) {
		fprintf(stderr, "sgnet connflood: bad address or INFLIGHT (1-%d)\n", FLOOD_MAX);
		return 2;
	}
	end = now_s() + atof(av[2]);
	for (int i = 0; i < n; i++) {
		p[i].fd = -1;
		if (flood_open(&p[i], &since[i], &a) < 0) {
			perror("sgnet connflood");
			return 1;
		}
	}
	while (now_s() < end) {
		if (poll(p, (nfds_t)n, 100) < 0 && errno != EINTR) {
			perror("sgnet connflood: poll");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			bool answered = p[i].revents != 0;

			if (!answered && now_s() - since[i] < 1.0)
				continue;
			if (answered)
				flows++;
			else
				timeouts++;
			if (flood_open(&p[i], &since[i], &a) < 0) {
				perror("sgnet connflood");
				return 1;
			}
		}
	}
	printf("flows %ld timeouts %ld\n", flows, timeouts);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "listen"))
		return do_listen(argv[2], argv[3]);
	if (argc == 9 && !strcmp(argv[1], "inject"))
		return do_inject(argv + 2);
	if (argc == 7 && !strcmp(argv[1], "udpflows"))
		return do_udpflows(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "connflood"))
		return do_connflood(argv + 2);
	fprintf(stderr, "usage: sgnet listen PORT BANNER\n"
		"       sgnet inject IFACE DSTMAC SRC DST SPORT DPORT COUNT\n"
		"       sgnet udpflows DST PORT FLOWS PKTS GAP_MS\n"
		"       sgnet connflood DST PORT SECONDS INFLIGHT\n");
	return 2;
}
