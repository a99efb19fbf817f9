/* fake_ident: a fixed table as the identity source of unit tests. */
#include "config.h"

#include "fake_ident.h"

const struct sa_ident *fake_ident_lookup(void *ctx, uint32_t spi, uint32_t reqid)
{
	struct fake_ident_table *t = ctx;

	t->lookups++;
	for (const struct fake_ident *e = t->v; e && e->spi; e++)
		if (e->spi == spi && (!e->reqid || e->reqid == reqid))
			return &e->id;
	return NULL;
}
