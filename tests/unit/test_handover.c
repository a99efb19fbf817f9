/* handover: the control socket's messages round-trip and refuse what is
 * not a request; the bank a new table is compiled into is never the one
 * the live table queues to; what sagated serves is compared with what is
 * applied. */
#include "config.h"

#include "handover.h"

#include <criterion/criterion.h>
#include <string.h>

static const char sha_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char sha_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static struct handover_req sample(enum handover_op op)
{
	struct handover_req r = { op, 7, 1, 1, (char *)"/var/lib/sagate/gen-000007/policy.json", "" };

	memcpy(r.sha256, sha_a, sizeof(r.sha256));
	return r;
}

Test(handover_msg, a_request_round_trips_as_one_line)
{
	for (int op = HANDOVER_LOAD; op <= HANDOVER_LIVE; op++) {
		struct handover_req in = sample((enum handover_op)op), out;
		struct diag_list d;
		char *line = handover_req_encode(&in);

		cr_assert_not_null(line);
		cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1, "one line: %s", line);
		diag_list_init(&d);
		cr_assert_eq(handover_req_decode(line, strlen(line), &out, &d), 0, "%s", diag_last(&d));
		cr_assert_eq(out.op, in.op);
		cr_assert_eq(out.generation, 7);
		cr_assert_eq(out.queue, 1);
		cr_assert_eq(out.queues, 1);
		cr_assert_str_eq(out.policy, in.policy);
		cr_assert_str_eq(out.sha256, sha_a);
		handover_req_fini(&out);
		diag_list_fini(&d);
		free(line);
	}
}

Test(handover_msg, a_reply_round_trips)
{
	struct handover_reply ok = { true, NULL, 9, 3 }, no = { false, (char *)"no such file", 0, 0 }, r;
	struct diag_list d;
	char *a = handover_reply_encode(&ok), *b = handover_reply_encode(&no);

	diag_list_init(&d);
	cr_assert_eq(handover_reply_decode(a, strlen(a), &r, &d), 0);
	cr_assert(r.ok);
	cr_assert_eq(r.generation, 9);
	cr_assert_eq(r.queue, 3);
	handover_reply_fini(&r);
	cr_assert_eq(handover_reply_decode(b, strlen(b), &r, &d), 0);
	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "no such file");
	handover_reply_fini(&r);
	cr_assert_eq(d.count, 0);
	diag_list_fini(&d);
	free(a);
	free(b);
}

Test(handover_msg, what_is_not_a_request_is_refused_with_a_reason)
{
	static const char *const bad[] = {
		"",
		"not json\n",
		"[1]\n",
		"{\"op\":\"load\"}\n",	/* no version */
		"{\"v\":2,\"op\":\"load\",\"generation\":1,\"queue\":0,\"queues\":1,\"policy\":\"/p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
		"{\"v\":1,\"op\":\"drop\",\"generation\":1,\"queue\":0,\"queues\":1,\"policy\":\"/p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
		"{\"v\":1,\"op\":\"load\",\"generation\":0,\"queue\":0,\"queues\":1,\"policy\":\"/p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
		"{\"v\":1,\"op\":\"load\",\"generation\":1,\"queue\":65535,\"queues\":1,\"policy\":\"/p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
		"{\"v\":1,\"op\":\"load\",\"generation\":1,\"queue\":0,\"queues\":0,\"policy\":\"/p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
		"{\"v\":1,\"op\":\"load\",\"generation\":1,\"queue\":0,\"queues\":1,\"policy\":\"p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
		"{\"v\":1,\"op\":\"load\",\"generation\":1,\"queue\":0,\"queues\":1,\"policy\":\"/p\",\"sha256\":\"AAAA\"}",
		"{\"v\":1,\"v\":1,\"op\":\"load\",\"generation\":1,\"queue\":0,\"queues\":1,\"policy\":\"/p\",\"sha256\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct handover_req r;
		struct diag_list d;

		diag_list_init(&d);
		cr_assert_eq(handover_req_decode(bad[i], strlen(bad[i]), &r, &d), -1, "accepted: %s", bad[i]);
		cr_assert_eq(d.errors, 1, "one reason for: %s", bad[i]);
		cr_assert_null(r.policy);
		handover_req_fini(&r);
		diag_list_fini(&d);
	}
}

Test(handover_msg, a_line_longer_than_the_limit_is_refused)
{
	size_t n = HANDOVER_MAX_LINE + 10;
	char *big = malloc(n + 1);
	struct handover_req r;
	struct diag_list d;

	memset(big, ' ', n);
	big[n] = '\0';
	diag_list_init(&d);
	cr_assert_eq(handover_req_decode(big, n, &r, &d), -1);
	cr_assert(strstr(diag_last(&d), "longer than"));
	diag_list_fini(&d);
	free(big);
}

static struct state_meta live(enum plan_mode mode, uint16_t queue)
{
	struct state_meta m = { .mode = mode, .queue = queue, .queue_base = 0, .queue_count = 1,
				.generation = 4 };

	memcpy(m.sha256, sha_a, sizeof(m.sha256));
	return m;
}

Test(handover_bank, the_new_table_takes_the_bank_the_live_one_does_not_use)
{
	struct state_meta a = live(PLAN_ENGINE, 0), b = live(PLAN_ENGINE, 1);
	struct state_meta k = live(PLAN_KERNEL_ONLY, 1), other = live(PLAN_ENGINE, 7);
	struct diag_list d;
	uint16_t q = 999;

	diag_list_init(&d);
	cr_assert_eq(handover_bank(0, 1, NULL, &q, &d), 0);
	cr_assert_eq(q, 0, "nothing live: bank A");
	cr_assert_eq(handover_bank(0, 1, &a, &q, &d), 0);
	cr_assert_eq(q, 1, "live on A: bank B");
	cr_assert_eq(handover_bank(0, 1, &b, &q, &d), 0);
	cr_assert_eq(q, 0, "live on B: bank A");
	cr_assert_eq(handover_bank(0, 1, &k, &q, &d), 0);
	cr_assert_eq(q, 0, "kernel-only queues nothing: bank A");
	cr_assert_eq(handover_bank(0, 1, &other, &q, &d), 0);
	cr_assert_eq(q, 0, "another base: bank A");
	cr_assert_eq(handover_bank(4, 4, &other, &q, &d), 0);
	cr_assert_eq(q, 8, "base 4, 4 per bank, live on queue 7 (A): B starts at 8");
	cr_assert_eq(d.count, 0);
	diag_list_fini(&d);
}

Test(handover_bank, bank_b_must_fit_below_65536)
{
	struct diag_list d;
	uint16_t q = 7;

	diag_list_init(&d);
	cr_assert_eq(handover_bank(65534, 1, NULL, &q, &d), 0);
	cr_assert_eq(q, 65534);
	cr_assert_eq(handover_bank(65535, 1, NULL, &q, &d), -1);
	cr_assert(strstr(diag_last(&d), "65535"));
	diag_list_fini(&d);
}

/* sagated's counters file, as far as handover_check reads it */
static json_t *counters(bool alive, json_t *gen_b)
{
	return json_pack("{s:b, s:s, s:i, s:[{s:i, s:i, s:o, s:s, s:s, s:b}, {s:i, s:i, s:o, s:o, s:s, s:b}]}",
			 "alive", alive, "state", "running", "pid", 42, "banks",
			 "queue", 0, "queues", 1, "generation", json_integer(3), "sha256", sha_b,
			 "policy", "/s/gen-000003/policy.json", "live", 0,
			 "queue", 1, "queues", 1, "generation", gen_b,
			 "sha256", json_is_null(gen_b) ? json_null() : json_string(sha_a),
			 "policy", "/s/gen-000004/policy.json", "live", 1);
}

Test(handover_check, the_bank_of_the_live_table_must_hold_the_applied_generation)
{
	struct state_meta m = live(PLAN_ENGINE, 1), on_a = live(PLAN_ENGINE, 0), far = live(PLAN_ENGINE, 5);
	struct state_meta k = live(PLAN_KERNEL_ONLY, 5);
	json_t *good = counters(true, json_integer(4)), *old = counters(true, json_integer(2));
	json_t *empty = counters(true, json_null()), *dead = counters(false, json_integer(4));
	char why[512];

	cr_assert_eq(handover_check(good, &m, why, sizeof(why)), HANDOVER_SERVED);
	cr_assert_eq(handover_check(old, &m, why, sizeof(why)), HANDOVER_MISMATCH);
	cr_assert(strstr(why, "generation 2") && strstr(why, "generation 4"), "%s", why);
	cr_assert_eq(handover_check(empty, &m, why, sizeof(why)), HANDOVER_MISMATCH);
	cr_assert(strstr(why, "no policy"), "%s", why);
	/* generation 4 on queue 0 would be judged by bank A's generation 3 */
	cr_assert_eq(handover_check(good, &on_a, why, sizeof(why)), HANDOVER_MISMATCH);
	cr_assert_eq(handover_check(good, &far, why, sizeof(why)), HANDOVER_MISMATCH);
	cr_assert(strstr(why, "does not serve"), "%s", why);
	cr_assert_eq(handover_check(dead, &m, why, sizeof(why)), HANDOVER_NOT_RUNNING);
	cr_assert_eq(handover_check(NULL, &m, why, sizeof(why)), HANDOVER_NOT_RUNNING);
	cr_assert_eq(handover_check(old, &k, why, sizeof(why)), HANDOVER_SERVED, "kernel-only: nothing queued");
	json_decref(good);
	json_decref(old);
	json_decref(empty);
	json_decref(dead);
}

/* A table spread over two queues is served only by a bank of exactly
 * those two: a sagated of one queue per bank (--queue 1) leaves one of
 * them unserved. */
Test(handover_check, the_bank_must_be_the_table_range)
{
	struct state_meta m = live(PLAN_ENGINE, 0);
	json_t *one = counters(true, json_integer(4));
	json_t *two = json_pack("{s:b, s:s, s:i, s:[{s:i, s:i, s:i, s:s, s:s, s:b}, {s:i, s:i, s:n, s:n, s:n, s:b}]}",
				"alive", 1, "state", "running", "pid", 42, "banks",
				"queue", 0, "queues", 2, "generation", 4, "sha256", sha_a,
				"policy", "/s/gen-000004/policy.json", "live", 1,
				"queue", 2, "queues", 2, "generation", "sha256", "policy", "live", 0);
	char why[512];

	m.queue_count = 2;
	json_array_remove(json_object_get(one, "banks"), 1);
	json_object_set_new(json_array_get(json_object_get(one, "banks"), 0), "sha256", json_string(sha_a));
	json_object_set_new(json_array_get(json_object_get(one, "banks"), 0), "generation", json_integer(4));
	cr_assert_eq(handover_check(two, &m, why, sizeof(why)), HANDOVER_SERVED, "%s", why);
	cr_assert_eq(handover_check(one, &m, why, sizeof(why)), HANDOVER_MISMATCH);
	cr_assert(strstr(why, "queues 0-1") && strstr(why, "queues 0-0"), "%s", why);
	json_decref(one);
	json_decref(two);
}

Test(handover_check, a_policy_file_matches_by_digest)
{
	struct state_meta m = live(PLAN_ENGINE, 1);
	json_t *j = counters(true, json_null());
	char why[512];

	/* --policy: no generation, the file's own digest */
	json_object_set_new(json_array_get(json_object_get(j, "banks"), 1), "sha256", json_string(sha_a));
	cr_assert_eq(handover_check(j, &m, why, sizeof(why)), HANDOVER_SERVED);
	json_object_set_new(json_array_get(json_object_get(j, "banks"), 1), "sha256", json_string(sha_b));
	cr_assert_eq(handover_check(j, &m, why, sizeof(why)), HANDOVER_MISMATCH);
	cr_assert(strstr(why, "--policy"), "%s", why);
	json_decref(j);
}
