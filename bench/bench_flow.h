/* bench_flow.h: what bench/decide-cost.c and bench/verdict-threads.c
 * decide: new UDP flows from 10.77.0.21 to 10.77.0.10 ports 10000-10099,
 * and the ESP transport SA (AES-GCM, SPI 0x1000) that carries them, as
 * bench/engine's policy expects.  Header only: each bench is one file
 * compiled by hand (bench/engine, BENCHMARKS.md). */
#ifndef SAGATE_BENCH_FLOW_H
#define SAGATE_BENCH_FLOW_H

#include "xfrm.h"

#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Flow i's first packet (60 bytes): 10.77.0.21 -> 10.77.0.10, UDP to
 * 10000 + (i % 100) from a port of i. */
static inline void bench_packet(unsigned char *p, unsigned long i)
{
	static const unsigned char ip[20] = { 0x45, 0, 0, 60, 0, 0, 0, 0, 64, 17, 0, 0,
					      10, 77, 0, 21, 10, 77, 0, 10 };
	unsigned sport = 1024 + (unsigned)(i % 64512), dport = 10000 + (unsigned)(i % 100);

	memcpy(p, ip, sizeof ip);
	p[20] = (unsigned char)(sport >> 8);
	p[21] = (unsigned char)sport;
	p[22] = (unsigned char)(dport >> 8);
	p[23] = (unsigned char)dport;
	p[24] = 0;
	p[25] = 40;
}

/* The inbound SA that carries them. */
static inline void bench_sa(struct xfrm_sa *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->fam = AF4;
	sa->saddr = (10u << 24) | (77u << 16) | 21;
	sa->daddr = (10u << 24) | (77u << 16) | 10;
	sa->spi = 0x1000;
	sa->proto = XFRM_PROTO_ESP;
	sa->mode = XFRM_SA_TRANSPORT;
	sa->reqid = 7;
	sa->aead.present = true;
	strcpy(sa->aead.name, "rfc4106(gcm(aes))");
	sa->aead.key_bits = 160;
	sa->aead.icv_bits = 128;
	sa->aead.bit = xfrm_alg_bit(XFRM_ALG_AEAD, sa->aead.name, 160, 128);
	sa->life.add_time = (uint64_t)time(NULL);
	sa->life.soft_bytes = sa->life.hard_bytes = ~0ull;
	sa->life.soft_packets = sa->life.hard_packets = ~0ull;
}

#endif
