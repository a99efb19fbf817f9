/* class-probe: do the kernel's lookups decide like the policy says?
 *
 *   class-probe POLICY N SEED DST4 DST6
 *
 * Picks N inbound probe packets for POLICY (half of them inside the
 * classifier's boxes, half anywhere near the policy's peers), works out
 * for each which policy rule decides it by walking the rules in order
 * (classify_eval_rules, the reference semantics, independent of the
 * kernel layout), and sends each once through raw sockets to DST4 / DST6
 * with the probe's peer as source: TCP SYNs, UDP datagrams and packets of
 * GRE (no ports), every one a new flow.  Prints the expected
 * packets per rule as JSON ({"rule": count, ...}, the default as
 * "(default)") for the caller to compare with the kernel's counters.
 * Run it in the sending namespace; the receiver holds the ruleset.
 */
#define _GNU_SOURCE
#include "classify.h"
#include "parse.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct probe {
	struct packet_key k;
	uint16_t sport;
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static u128 rnd_between(u128 lo, u128 hi)
{
	u128 span = hi - lo, r = ((u128)rnd() << 64) | rnd();

	return span == ~(u128)0 ? r : lo + r % (span + 1);
}

/* A key the packet writer can send: tcp or udp with a port, or GRE. */
static bool sendable(uint32_t key)
{
	unsigned p = KEY_PROTO(key);

	return p == 6 || p == 17 || (p == 47 && KEY_PORT(key) == 0);
}

static bool pick(const struct classes *c, enum addr_family fam, struct packet_key *k)
{
	const struct class_box *b = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->nboxes; i++)	/* reservoir: a random box of fam */
		if (c->boxes[i].dir == DIR_IN && c->boxes[i].fam == fam && rnd() % ++n == 0)
			b = &c->boxes[i];
	if (!b)
		return false;
	k->dir = DIR_IN;
	k->fam = fam;
	if (rnd() % 2) {	/* inside the box */
		k->peer = rnd_between(b->peer_lo, b->peer_hi);
		k->key = (uint32_t)rnd_between(b->key_lo, b->key_hi);
	} else {		/* near it, anything */
		k->peer = b->peer_lo + rnd() % 4096 - 2048;
		if (fam == AF4)
			k->peer &= 0xffffffffu;
		k->key = rnd() % 3 == 0 ? KEY(47, 0) : KEY(rnd() % 2 ? 6 : 17, rnd() % 65536);
	}
	return sendable(k->key);
}

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

/* The transport part: TCP SYN, UDP datagram or 4 bytes of GRE;
 * checksums over the pseudo header of src/dst (len bytes each). */
static size_t transport(uint8_t *t, const struct probe *pr, const uint8_t *src,
			const uint8_t *dst, size_t alen)
{
	unsigned proto = KEY_PROTO(pr->k.key), port = KEY_PORT(pr->k.key);
	size_t n = proto == 6 ? 20 : proto == 17 ? 12 : 4;
	uint8_t pseudo[4] = { 0, 0, 0, (uint8_t)proto };
	uint32_t s = 0;
	uint16_t c;

	memset(t, 0, n);
	if (proto == 6 || proto == 17) {
		t[0] = (uint8_t)(pr->sport >> 8);
		t[1] = (uint8_t)pr->sport;
		t[2] = (uint8_t)(port >> 8);
		t[3] = (uint8_t)port;
	}
	if (proto == 6) {
		t[12] = 5 << 4;		/* header length */
		t[13] = 0x02;		/* SYN */
		t[14] = 0xff;		/* window */
		t[4] = (uint8_t)(rnd() >> 8);	/* sequence */
	} else if (proto == 17) {
		t[5] = (uint8_t)n;	/* length */
		memcpy(t + 8, "prb", 4);
	}
	if (proto == 47)
		return n;
	s = csum_add(s, src, alen);
	s = csum_add(s, dst, alen);
	s += (uint32_t)n;
	s = csum_add(s, pseudo, sizeof(pseudo));
	s = csum_add(s, t, n);
	c = csum_fold(s);
	if (proto == 17 && c == 0)
		c = 0xffff;
	t[proto == 6 ? 16 : 6] = (uint8_t)(c >> 8);
	t[proto == 6 ? 17 : 7] = (uint8_t)c;
	return n;
}

static int send4(int fd, const struct probe *pr, struct in_addr dst)
{
	uint8_t pkt[64] = { 0 }, src[4];
	uint32_t a = htonl((uint32_t)pr->k.peer);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	size_t n;

	memcpy(src, &a, 4);
	n = transport(pkt + 20, pr, src, (const uint8_t *)&dst, 4);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)((20 + n) >> 8);
	pkt[3] = (uint8_t)(20 + n);
	pkt[8] = 64;
	pkt[9] = (uint8_t)KEY_PROTO(pr->k.key);
	memcpy(pkt + 12, src, 4);
	memcpy(pkt + 16, &dst, 4);
	uint16_t c = csum_fold(csum_add(0, pkt, 20));

	pkt[10] = (uint8_t)(c >> 8);
	pkt[11] = (uint8_t)c;
	return sendto(fd, pkt, 20 + n, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -1 : 0;
}

static int send6(int fd, const struct probe *pr, struct in6_addr dst)
{
	uint8_t pkt[80] = { 0 }, src[16];
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_addr = dst };
	size_t n;

	for (int i = 0; i < 16; i++)
		src[i] = (uint8_t)(pr->k.peer >> (8 * (15 - i)));
	n = transport(pkt + 40, pr, src, dst.s6_addr, 16);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)(n >> 8);
	pkt[5] = (uint8_t)n;
	pkt[6] = (uint8_t)KEY_PROTO(pr->k.key);
	pkt[7] = 64;
	memcpy(pkt + 8, src, 16);
	memcpy(pkt + 24, dst.s6_addr, 16);
	return sendto(fd, pkt, 40 + n, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -1 : 0;
}

static void count(json_t *exp, const struct policy *p, uint32_t r)
{
	const char *name = r == CLASS_NONE ? "(default)" : p->rules[r].name;
	json_t *v = json_object_get(exp, name);

	json_object_set_new(exp, name, json_integer(v ? json_integer_value(v) + 1 : 1));
}

int main(int argc, char **argv)
{
	struct diag_list d;
	struct policy *p;
	struct classes *c;
	struct in_addr d4;
	struct in6_addr d6;
	json_t *exp = json_object();
	int fd4, fd6, one = 1;
	long n;

	if (argc != 6 || inet_pton(AF_INET, argv[4], &d4) != 1 ||
	    inet_pton(AF_INET6, argv[5], &d6) != 1) {
		fprintf(stderr, "usage: class-probe POLICY N SEED DST4 DST6\n");
		return 2;
	}
	n = atol(argv[2]);
	rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)atol(argv[3]);
	diag_list_init(&d);
	p = parse_policy_file(argv[1], NULL, &d);
	c = p ? classify(p, 0) : NULL;
	fd4 = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	fd6 = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
	if (!c || fd4 < 0 || fd6 < 0 ||
	    setsockopt(fd6, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)) < 0) {
		fprintf(stderr, "class-probe: cannot load %s or open raw sockets\n", argv[1]);
		return 1;
	}
	for (long i = 0, tries = 0; i < n && tries < 100 * n; tries++) {
		struct probe pr = { .sport = (uint16_t)(1024 + i % 60000) };

		if (!pick(c, rnd() % 4 ? AF4 : AF6, &pr.k))
			continue;
		if ((pr.k.fam == AF4 ? send4(fd4, &pr, d4) : send6(fd6, &pr, d6)) < 0) {
			perror("class-probe: sendto");
			return 1;
		}
		count(exp, p, classify_eval_rules(p, &pr.k));
		i++;
	}
	char *s = json_dumps(exp, JSON_SORT_KEYS | JSON_COMPACT);

	printf("%s\n", s);
	free(s);
	json_decref(exp);
	classes_free(c);
	policy_free(p);
	diag_list_fini(&d);
	close(fd4);
	close(fd6);
	return 0;
}
