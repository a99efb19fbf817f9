/* cli_view: what status, list and metrics read of the live firewall: the
 * kernel's table and counters next to what the state directory says was
 * applied, and a pending or rolled-back confirm. */
#ifndef SAGATE_CLI_VIEW_H
#define SAGATE_CLI_VIEW_H

#include "diag.h"
#include "live.h"
#include "model.h"
#include "nft_read.h"
#include "state.h"

#include <stdbool.h>
#include <stdint.h>

struct cli_view {
	struct diag_list diags;
	struct nft_live live;
	struct state_meta meta;	/**< valid when gen */
	unsigned gen, prev;	/**< applied generation (0: none) and rollback target */
	struct policy *pol;	/**< the applied bundle, for rule order; may be NULL */
	bool pending;		/**< a confirm is pending: confirm */
	struct live_pending confirm;
	bool rolled_back;	/**< its watcher rolled one back: rb */
	struct live_rollback_record rb;
	const char *unsettled;	/**< "apply" or "rollback": its record is there
				 *   (one is running, or ended between the kernel's
				 *   commit and its switch); NULL when none */
};

/** Read it all; EXIT_OK, or EXIT_SYSTEM with the reason in v->diags.
 *  cli_view_fini either way. */
int cli_view_load(struct cli_view *v);
void cli_view_fini(struct cli_view *v);

/** Does the live table carry the applied generation's digest? */
bool cli_view_table_matches(const struct cli_view *v);

/** Packets of require-ipsec flows the table's own rules dropped for
 *  arriving or leaving in cleartext (their comments say so). */
uint64_t cli_view_cleartext_drops(const struct nft_live *l);

#endif
