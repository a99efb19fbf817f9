/* Internal to the parser: the context shared by parse*.c. */
#ifndef SAGATE_PARSE_INT_H
#define SAGATE_PARSE_INT_H

#include "diag.h"
#include "model.h"
#include "parse.h"
#include "util.h"

#include <jansson.h>
#include <stdbool.h>

/** A named host group, resolved on first use. */
struct hostdef {
	const char *name;	/**< key in the file's "hosts" object */
	json_t *value;		/**< borrowed from a root kept in pctx */
	const char *file;
	char *path;		/**< "hosts.admins" */
	enum { HOST_NEW, HOST_RESOLVING, HOST_DONE, HOST_FAILED } state;
	struct addr_set set;
	size_t depth;		/**< resolved: 1, or 1 + that of its deepest group */
	const struct hostdef *deepest;	/**< the group it holds that sets depth, or NULL */
};

/** A named service: protocol / port keys. */
struct svcdef {
	const char *name;
	const char *file;
	char *path;
	struct key_range *keys;
	size_t nkeys;
};

/** A file read during this parse, kept until the end (its JSON is borrowed). */
struct loaded_file {
	char *display;		/**< name for messages */
	char *real;		/**< realpath, for cycle detection */
	json_t *root;
	bool active;		/**< on the include stack right now */
	char sha[65];		/**< SHA-256 of its bytes, hex */
	char *text;		/**< its bytes (kept for the top-level file only) */
	size_t text_len;
};


/** Everything one parse run carries. */
struct pctx {
	struct diag_list *diags;
	size_t max_size;
	struct loaded_file *files;
	size_t nfiles, capfiles;
	struct hostdef *hosts;
	size_t nhosts, caphosts;
	struct svcdef *svcs;
	size_t nsvcs, capsvcs;
	struct nindex host_ix, svc_ix;
	struct hostdef *groups[PARSE_MAX_GROUP_DEPTH];	/**< being resolved, outermost first */
	size_t ngroups;
	bool deep_reported;	/**< groups nested too deep were reported */
	bool oom;
};

/* Report an error at a place. */
#define perr(c, file, path, rule, ...) \
	diag_add((c)->diags, DIAG_ERROR, file, path, rule, __VA_ARGS__)
#define pwarn(c, file, path, rule, ...) \
	diag_add((c)->diags, DIAG_WARNING, file, path, rule, __VA_ARGS__)

/** Reject keys of obj not in the NULL-terminated list. */
void pcheck_keys(struct pctx *c, json_t *obj, const char *const *allowed,
		 const char *file, const char *path, const char *rule);
/** Name of a JSON type for messages ("a string", "an array", ...). */
const char *pjson_type(const json_t *v);

/* parse_defs.c: hosts, services, addresses, protocols and ports */
void pdefs_collect(struct pctx *c, json_t *root, const char *file);
/** Parse a host list (string or array of strings) into set.  Returns
 *  false after reporting errors. */
bool phosts_parse(struct pctx *c, json_t *v, const char *file, const char *path,
		  const char *rule, struct addr_set *set);
/** Parse "protocol" and "ports" (either may be NULL) into keys. */
bool pkeys_parse(struct pctx *c, json_t *proto, json_t *ports, const char *file,
		 const char *path, const char *rule, struct key_range **keys,
		 size_t *nkeys);
/** The keys of a match object's "protocol" with "ports" or "icmp-types"
 *  (parse_icmp.c).  path: the object's JSON path ("" at the top). */
bool pmatch_keys(struct pctx *c, json_t *obj, const char *file, const char *path,
		 const char *rule, struct key_range **keys, size_t *nkeys);
/** Append the keys of a named service. */
bool psvc_keys(struct pctx *c, json_t *name, const char *file, const char *path,
	       const char *rule, struct key_range **keys, size_t *nkeys, size_t *cap);
/** Resolve every host group, used or not, reporting its errors. */
void pdefs_validate(struct pctx *c);
/** Move the resolved host groups into p->groups, in the order their
 *  files were read. */
void pdefs_export(struct pctx *c, struct policy *p);
void pdefs_free(struct pctx *c);

/* parse_limit.c: a rule's "limit" into r->limit (after its action and
 * direction are known) */
void plimit_parse(struct pctx *c, json_t *o, const char *file, const char *path,
		  const char *rule, struct rule *r);

/* parse_iface.c: a rule's "interfaces" into r->ifaces */
void piface_parse(struct pctx *c, json_t *o, const char *file, const char *path,
		  const char *rule, struct rule *r);

/* parse_rule.c */
void prules_parse(struct pctx *c, json_t *rules, const char *file, struct policy *p);

#endif
