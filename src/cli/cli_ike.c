/* sagate ike-config: the swanctl.conf fragment whose SAs a policy's
 * require-ipsec rules admit, on standard output. */
#include "config.h"

#include "cli.h"
#include "cli_common.h"
#include "ike_conf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CLI_LOCAL_MAX <= IKE_CONF_LOCAL_MAX, "--local: more than ike_conf takes");

/* --local: single addresses of this host, each once. */
static int parse_locals(const struct cli_opts *o, struct addr_range *out)
{
	for (size_t i = 0; i < o->nlocal; i++) {
		enum addr_parse_error e = addr_parse(o->local[i], &out[i]);

		if (e != ADDR_OK || out[i].lo != out[i].hi || strchr(o->local[i], '/')) {
			fprintf(stderr, "sagate ike-config: --local takes one address of this host (192.0.2.1, 2001:db8::1), not \"%s\"\n",
				o->local[i]);
			return EXIT_USAGE;
		}
		for (size_t j = 0; j < i; j++)
			if (out[j].fam == out[i].fam && out[j].lo == out[i].lo) {
				fprintf(stderr, "sagate ike-config: --local %s given twice\n", o->local[i]);
				return EXIT_USAGE;
			}
	}
	return 0;
}

int cli_ike_config(const struct cli_opts *o, const char *file)
{
	struct addr_range local[IKE_CONF_LOCAL_MAX];
	struct ike_conf_opts io = { .local = local, .nlocal = o->nlocal,
				    .auth = o->auth_psk ? IKE_AUTH_PSK : IKE_AUTH_PUBKEY };
	struct ike_conf_stats st;
	struct loaded l;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	if ((rc = parse_locals(o, local)) != 0)
		return rc;
	rc = cli_load(file, PLAN_ENGINE, 0, 1, false, CLI_FINDINGS_NONE, &l);
	if (rc != EXIT_OK) {
		if (o->json)
			cli_dump_json(cli_result("ike-config", false,
						 json_pack("{s:s, s:o}", "file", file,
							   "diagnostics", cli_diags_json(&l.diags))));
		else
			cli_print_errors(stderr, &l.diags);
		cli_unload(&l);
		return rc;
	}
	/* written whole before any of it is shown: a failure prints nothing */
	if (!(mem = open_memstream(&text, &len))) {
		cli_unload(&l);
		fprintf(stderr, "sagate ike-config: out of memory\n");
		return EXIT_SYSTEM;
	}
	size_t before = l.diags.count;
	if (ike_conf_write(mem, l.pol, &io, &l.diags, &st) < 0)
		rc = EXIT_SYSTEM;
	if (fclose(mem) != 0)
		rc = EXIT_SYSTEM;
	if (o->json) {
		struct diag_list mine = { .items = l.diags.items + before, .count = l.diags.count - before };

		if (cli_dump_json(cli_result("ike-config", rc == EXIT_OK,
					     json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "file", file,
						       "swanctl", rc == EXIT_OK && text ? text : "",
						       "connections", (json_int_t)st.connections,
						       "children", (json_int_t)st.children,
						       "rules", (json_int_t)st.rules,
						       "diagnostics", cli_diags_json(&mine)))) < 0)
			rc = EXIT_SYSTEM;
	} else {
		for (size_t i = before; i < l.diags.count; i++) {
			char *m = diag_format(&l.diags.items[i]);

			fprintf(stderr, "%s\n", m ? m : "out of memory");
			free(m);
		}
		if (rc == EXIT_OK && (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0))
			rc = EXIT_SYSTEM;
	}
	free(text);
	cli_unload(&l);
	return rc;
}
