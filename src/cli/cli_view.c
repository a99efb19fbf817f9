/* cli_view: the live firewall as status, list and metrics read it. */
#include "config.h"

#include "cli.h"
#include "cli_view.h"
#include "parse.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Is f's record in the state directory?  (Read without the lock, as all
 * of status is: it is settled under the lock by the next change.) */
static bool record_there(const char *dir, enum state_file f)
{
	char path[PATH_MAX];

	return state_path(path, sizeof(path), dir, f) == 0 && access(path, F_OK) == 0;
}

int cli_view_load(struct cli_view *v)
{
	const char *dir = state_dir();

	memset(v, 0, sizeof(*v));
	diag_list_init(&v->diags);
	if (nft_read_live(&v->live, &v->diags) < 0)
		return EXIT_SYSTEM;
	v->gen = state_generation(dir, STATE_CURRENT);
	v->prev = state_generation(dir, STATE_PREVIOUS);
	if (v->gen && state_read_meta(dir, v->gen, &v->meta, &v->diags) == 0) {
		char *pp = state_policy_path(dir, v->gen);
		struct parse_opts po = { .max_file_size = STATE_MAX_BUNDLE };

		v->pol = pp ? parse_policy_file(pp, &po, &v->diags) : NULL;
		free(pp);
	} else {
		v->gen = 0;
	}
	v->pending = live_pending_get(dir, &v->confirm, &v->diags) == 1;
	v->rolled_back = live_rollback_record_get(dir, &v->rb, &v->diags) == 1;
	v->unsettled = record_there(dir, STATE_APPLYING) ? "apply" :
		       record_there(dir, STATE_ROLLING_BACK) ? "rollback" : NULL;
	return EXIT_OK;
}

void cli_view_fini(struct cli_view *v)
{
	nft_live_fini(&v->live);
	state_meta_fini(&v->meta);
	policy_free(v->pol);
	live_rollback_record_fini(&v->rb);
	diag_list_fini(&v->diags);
}

bool cli_view_table_matches(const struct cli_view *v)
{
	return v->live.present && v->gen && state_table_holds(&v->meta, v->live.comment);
}

uint64_t cli_view_cleartext_drops(const struct nft_live *l)
{
	uint64_t n = 0;

	for (size_t i = 0; i < l->nrules; i++)
		if (strstr(l->rules[i].comment, "in cleartext") ||
		    strstr(l->rules[i].comment, "would leave in cleartext") ||
		    strstr(l->rules[i].comment, "no SA would protect it"))
			n += l->rules[i].packets;
	return n;
}
