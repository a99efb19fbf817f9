/* elimit: the decision log's lock-free rate limiter (elimit.h). */
#include "config.h"

#include "elimit.h"

#define WIN(sec, count) (((uint64_t)(uint32_t)(sec) << 32) | (uint32_t)(count))

void elimit_init(struct elimit *l, unsigned per_sec)
{
	l->win = 0;
	l->per_sec = per_sec;
	l->reported = 0;
}

bool elimit_admit(struct elimit *l, struct elimit_count *mine, time_t now)
{
	uint64_t w = __atomic_load_n(&l->win, __ATOMIC_RELAXED), nw;

	for (;;) {
		uint32_t sec = (uint32_t)(w >> 32), count = (uint32_t)w;

		/* seconds compared modulo 2^32: a stale now counts in the newer second */
		if ((int32_t)((uint32_t)now - sec) > 0)
			nw = WIN(now, 1);
		else if (count < l->per_sec)
			nw = w + 1;
		else
			break;
		if (__atomic_compare_exchange_n(&l->win, &w, nw, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	}
	__atomic_store_n(&mine->n, __atomic_load_n(&mine->n, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
	return false;
}

uint64_t elimit_count_read(const struct elimit_count *c)
{
	return __atomic_load_n(&c->n, __ATOMIC_RELAXED);
}

uint64_t elimit_report(struct elimit *l, uint64_t total)
{
	uint64_t d = total - l->reported;

	l->reported = total;
	return d;
}
