/* verdict-threads: how sagated's verdict path scales over queue threads,
 * without a kernel queue: T threads, each owning one queue of an engine
 * loaded with a policy and one ESP SA, call eq_judge (the decision, the
 * SA-sync check before an accept, the counters and the rate-limited log
 * line) on bursts of new flows in a loop.  Prints flows/s and the
 * threads' CPU time per flow for 1 thread and for 2, in the order 1 2 2
 * 1, and the ratio of the rates.  On a machine that others load, the CPU
 * per flow is the number to read: what the threads cost each other
 * (locks, cache lines) raises it, a busy core only lowers the rate.  Only
 * the packets' verdicts are skipped (no NFQUEUE socket).  Needs root for
 * the XFRM netlink socket the SA-sync check reads (opened in a network
 * namespace of its own, bound to no group, so it stays empty).
 *
 *   verdict-threads POLICY.json [SECONDS-PER-RUN [BURST]]
 *
 * POLICY must require IPsec for UDP from 10.77.0.21 to 10000-10099
 * (bench/engine's policy).  Decision lines go to /dev/null.
 */
#define _GNU_SOURCE
#include "config.h"

#include "bench_flow.h"
#include "engine_int.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct worker {
	struct engine_queue *q;
	unsigned burst;
	uint32_t spi_be;
	volatile int *stop;
	unsigned long flows, accepted;
	double cpu;		/* the thread's CPU seconds */
	pthread_t th;
	unsigned char pkt[EQ_BURST][60];
};

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned long i = 0;

	while (!*w->stop) {
		for (unsigned k = 0; k < w->burst; k++, i++) {
			bench_packet(w->pkt[k], i);
			w->q->it[k] = (struct eq_item){ .id = (uint32_t)i + 1, .dir = DIR_IN,
							.data = w->pkt[k], .len = 60,
							.spi_be = w->spi_be };
		}
		eq_judge(w->q, w->burst);
		for (unsigned k = 0; k < w->burst; k++)
			w->accepted += w->q->pk[k].accept;
		w->flows += w->burst;
	}
	w->cpu = thread_cpu();
	return NULL;
}

/* T threads for secs seconds: flows/s, or -1 when a verdict was not an
 * accept; *ns: the threads' CPU time per flow */
static double run(struct engine *e, unsigned t, double secs, unsigned burst, uint32_t spi_be,
		  double *ns)
{
	static struct worker w[2];
	volatile int stop = 0;
	unsigned long flows = 0, acc = 0;
	double t0, el, cpu = 0;

	for (unsigned i = 0; i < t; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i] = (struct worker){ .q = &e->q[i], .burst = burst, .spi_be = spi_be, .stop = &stop };
	}
	t0 = bench_now();
	for (unsigned i = 0; i < t; i++)
		if (pthread_create(&w[i].th, NULL, work, &w[i]))
			return -1;
	while (bench_now() - t0 < secs)
		usleep(10000);
	stop = 1;
	for (unsigned i = 0; i < t; i++) {
		pthread_join(w[i].th, NULL);
		flows += w[i].flows;
		acc += w[i].accepted;
		cpu += w[i].cpu;
	}
	el = bench_now() - t0;
	*ns = flows ? cpu / (double)flows * 1e9 : 0;
	return acc == flows ? (double)flows / el : -1;
}

int main(int argc, char **argv)
{
	struct engine_src src = { .queue = 0, .nqueues = 2 };
	struct diag_list d;
	struct engine e;
	struct xfrm_sa sa;
	double secs = argc > 2 ? atof(argv[2]) : 3;
	unsigned burst = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
	double sum[3] = { 0 }, nsum[3] = { 0 };
	int devnull, rc = 0;

	if (argc < 2 || burst < 1 || burst > EQ_BURST) {
		fprintf(stderr, "usage: verdict-threads POLICY.json [SECONDS [BURST]]\n");
		return 2;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		perror("verdict-threads: unshare(CLONE_NEWNET)");
		return 1;
	}
	devnull = open("/dev/null", O_WRONLY);
	if (devnull < 0 || dup2(devnull, STDOUT_FILENO) < 0)
		return 1;
	src.policy = argv[1];
	diag_list_init(&d);
	if (engine_init(&e, &src, &d) < 0 || engine_queues_alloc(&e, &d) < 0) {
		fprintf(stderr, "verdict-threads: %s: %s\n", argv[1], d.count ? d.items[0].message : "?");
		engine_fini(&e);
		return 1;
	}
	e.xnl = mnl_socket_open(NETLINK_XFRM);
	if (!e.xnl || mnl_socket_bind(e.xnl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    fcntl(mnl_socket_get_fd(e.xnl), F_SETFL, O_NONBLOCK) < 0) {
		perror("verdict-threads: NETLINK_XFRM");
		engine_fini(&e);
		return 1;
	}
	bench_sa(&sa);
	xfrm_cache_put(e.sas, &sa);

	static const unsigned order[] = { 1, 2, 2, 1 };
	for (unsigned r = 0; r < 4; r++) {
		double ns, f = run(&e, order[r], secs, burst, xfrm_sa_handover(&sa), &ns);

		if (f < 0) {
			fprintf(stderr, "verdict-threads: a verdict was not an accept\n");
			rc = 1;
			break;
		}
		fprintf(stderr, "verdict-threads: %u thread(s), burst %u: %.0f flows/s, %.0f ns of CPU a flow\n",
			order[r], burst, f, ns);
		sum[order[r]] += f;
		nsum[order[r]] += ns;
	}
	if (!rc)
		fprintf(stderr, "BENCH verdict-threads: burst %u; 1 thread %.0f flows/s, %.0f ns CPU a flow; 2 threads %.0f flows/s, %.0f ns CPU a flow; ratio %.2f (order 1 2 2 1, %.1f s each)\n",
			burst, sum[1] / 2, nsum[1] / 2, sum[2] / 2, nsum[2] / 2, sum[2] / sum[1], secs);
	engine_stop(&e, &d);
	engine_fini(&e);
	diag_list_fini(&d);
	return rc;
}
