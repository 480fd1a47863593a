// SPDX-License-Identifier: MIT
/*
 * Who is calling: password hashing, tokens, the auth hook run before every
 * handler (with its cache of checked sessions and API keys), the
 * failed-login limiter and the first-start bootstrap. Which resources a
 * caller may see is decided in api_common.c, not here.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/kumod.h"
#include "kumod/store.h"

char *auth_hash_password(const char *password)
{
	char out[crypto_pwhash_STRBYTES];

	if (sodium_init() < 0)
		return NULL;
	if (crypto_pwhash_str_alg(
	        out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return NULL;
	return xstrdup(out);
}

bool auth_check_password(const char *hash, const char *password)
{
	if (!hash || !password)
		return false;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

static char *dummy_hash;

static void dummy_init(void)
{
	dummy_hash = auth_hash_password("kumo-no-such-user");
}

void auth_check_dummy(const char *password)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, dummy_init);
	if (dummy_hash && password &&
	    crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
		log_debug("a password matched the dummy hash");
}

/* --- failed-login limiter ---------------------------------------------- */

#define LIMIT_SLOTS 4096

struct limit_slot {
	char key[160];
	int failures;
	int64_t window_start;
};

static struct limit_slot limits[LIMIT_SLOTS];
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

static struct limit_slot *limit_find(const char *key, bool create)
{
	int64_t now = mono_ms();
	struct limit_slot *oldest = &limits[0];

	for (int i = 0; i < LIMIT_SLOTS; i++) {
		struct limit_slot *s = &limits[i];

		if (s->key[0] && now - s->window_start > kumod_cfg.login_window_ms)
			s->key[0] = '\0';
		if (s->key[0] && strcmp(s->key, key) == 0)
			return s;
		if (!s->key[0] || s->window_start < oldest->window_start)
			oldest = s;
	}
	if (!create)
		return NULL;
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	oldest->failures = 0;
	oldest->window_start = now;
	return oldest;
}

static void limit_keys(const char *account, const char *addr, char a[160], char b[160])
{
	snprintf(a, 160, "acct:%s", account ? account : "");
	snprintf(b, 160, "addr:%s", addr ? addr : "");
}

int auth_login_allowed(const char *account, const char *addr)
{
	char ka[160], kb[160];
	struct limit_slot *s;
	int r = 0;

	limit_keys(account, addr, ka, kb);
	pthread_mutex_lock(&limit_lock);
	s = limit_find(ka, false);
	if (s && s->failures >= kumod_cfg.login_max_failures)
		r = -EAGAIN;
	s = limit_find(kb, false);
	if (s && s->failures >= kumod_cfg.login_max_failures)
		r = -EAGAIN;
	pthread_mutex_unlock(&limit_lock);
	return r;
}

void auth_login_failed(const char *account, const char *addr)
{
	char ka[160], kb[160];

	limit_keys(account, addr, ka, kb);
	pthread_mutex_lock(&limit_lock);
	limit_find(ka, true)->failures++;
	limit_find(kb, true)->failures++;
	pthread_mutex_unlock(&limit_lock);
}

void auth_login_succeeded(const char *account, const char *addr)
{
	char ka[160], kb[160];
	struct limit_slot *s;

	limit_keys(account, addr, ka, kb);
	pthread_mutex_lock(&limit_lock);
	s = limit_find(ka, false);
	if (s)
		s->key[0] = '\0';
	pthread_mutex_unlock(&limit_lock);
}

/* --- the hook ------------------------------------------------------------ */

static const char *bearer(const struct http_request *req)
{
	const char *h = http_header(req, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* expires_at of a session or API key as wall-clock ms: INT64_MAX when it
 * has none, INT64_MIN when it cannot be read (so it counts as expired). */
static int64_t expiry_ms(const json_t *doc)
{
	const char *exp = jstr(doc, "expires_at");
	int64_t t;

	if (!exp)
		return INT64_MAX;
	return time_parse(exp, &t) < 0 ? INT64_MIN : t;
}

static bool expired_at(int64_t exp_ms)
{
	return exp_ms <= now_ms();
}

/* --- the credential cache -------------------------------------------------- */

/* Sessions and API keys already checked against the store, found by the
 * SHA-256 of the whole token (the token itself is not kept), so that a
 * request with a known token costs no store read. A fixed-size table:
 * CACHE_SETS sets of CACHE_WAYS entries, the entry checked longest ago
 * replaced when a set is full.
 *
 * Revocations delete the session or key in the store and then call
 * auth_cache_invalidate(), which bumps the epoch: entries of an older epoch
 * are misses. A lookup that reads the store caches its result under the
 * epoch it read before the store, so a revocation committed meanwhile is
 * never cached over. Entries are also read again after CACHE_TTL_MS, which
 * bounds how long a change made outside this process (another kumod on the
 * same store, an operator's SQL) goes unseen. Expiry is checked on every
 * hit. Host secrets (agent routes) are not cached: they change when a host
 * registers again. */
#define CACHE_SETS 256
#define CACHE_WAYS 4
#define CACHE_TTL_MS 30000

struct cache_entry {
	unsigned char digest[crypto_hash_sha256_BYTES];
	uint64_t epoch;     /* 0 = empty */
	int64_t checked_ms; /* monotonic time of the store read */
	int64_t expires_ms; /* wall clock; INT64_MAX = never */
	struct auth a;      /* the caller, as the hook sets it */
};

static struct {
	pthread_mutex_t lock;   /* guards e; epoch is written under it */
	_Atomic uint64_t epoch; /* starts at 1 */
	struct cache_entry e[CACHE_SETS][CACHE_WAYS];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER, .epoch = 1 };

static struct cache_entry *cache_set(const unsigned char *digest)
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return cache.e[h % CACHE_SETS];
}

/* The cached caller for this token digest, if current. */
static bool cache_get(const unsigned char *digest, struct auth *ret, int64_t *ret_expires)
{
	struct cache_entry *set = cache_set(digest);
	int64_t now = mono_ms();
	bool hit = false;

	pthread_mutex_lock(&cache.lock);
	for (int i = 0; i < CACHE_WAYS; i++) {
		struct cache_entry *ce = &set[i];

		if (ce->epoch != atomic_load(&cache.epoch) ||
		    now - ce->checked_ms >= CACHE_TTL_MS ||
		    memcmp(ce->digest, digest, sizeof(ce->digest)) != 0)
			continue;
		*ret = ce->a;
		*ret_expires = ce->expires_ms;
		hit = true;
		break;
	}
	pthread_mutex_unlock(&cache.lock);
	return hit;
}

/* Keeps a caller just read from the store, unless a revocation came after
 * epoch (read before the store was). */
static void cache_put(const unsigned char *digest, const struct auth *a, int64_t expires_ms,
                      uint64_t epoch, int64_t checked_ms)
{
	struct cache_entry *set = cache_set(digest), *victim = NULL;

	pthread_mutex_lock(&cache.lock);
	if (epoch != atomic_load(&cache.epoch))
		goto out;
	for (int i = 0; i < CACHE_WAYS; i++) {
		struct cache_entry *ce = &set[i];

		if (ce->epoch == epoch && memcmp(ce->digest, digest, sizeof(ce->digest)) == 0) {
			victim = ce; /* the same token, read again */
			break;
		}
		if (!victim || ce->epoch != epoch ||
		    (victim->epoch == epoch && ce->checked_ms < victim->checked_ms))
			victim = ce;
	}
	memcpy(victim->digest, digest, sizeof(victim->digest));
	victim->epoch = epoch;
	victim->checked_ms = checked_ms;
	victim->expires_ms = expires_ms;
	victim->a = *a;
out:
	pthread_mutex_unlock(&cache.lock);
}

void auth_cache_invalidate(void)
{
	pthread_mutex_lock(&cache.lock);
	atomic_fetch_add(&cache.epoch, 1);
	pthread_mutex_unlock(&cache.lock);
}

/* A store failure while checking credentials is not a bad credential:
 * answer 503 so that clients retry instead of logging in again. */
static int store_unavailable(struct kerr *e, int r)
{
	log_warn("cannot check credentials: store error %d", r);
	return kerr_set(e, -ENOTCONN, "", "the store is busy; retry");
}

static int auth_agent(struct http_request *req, const char *token, struct auth *a, struct kerr *e)
{
	const char *host_id = http_param(req, "id");
	json_t *host = NULL;
	char *h;
	bool ok;
	int r;

	if (!host_id || !uuid_valid(host_id))
		return kerr_set(e, -EACCES, "", "unknown host");
	r = store_get("hosts", host_id, NULL, false, &host);
	if (r == -ENOENT)
		return kerr_set(e, -EACCES, "", "unknown host (deleted?): register again");
	if (r < 0)
		return store_unavailable(e, r);
	h = sha256_hex(token, strlen(token));
	ok = str_eq_ct(h, jstr(host, "secret_hash"));
	free(h);
	json_decref(host);
	if (!ok)
		return kerr_set(e, -EACCES, "", "bad host secret");
	snprintf(a->host_id, sizeof(a->host_id), "%s", host_id);
	a->role = ROLE_AGENT;
	return 0;
}

static int auth_api_key(const char *token, struct auth *a, int64_t *ret_expires, struct kerr *e)
{
	char id[UUID_LEN + 1];
	const char *p = token + 4, *sep = strchr(p, '_');
	json_t *key = NULL;
	int64_t exp;
	char *h;
	bool ok;
	int r;

	if (!sep || sep - p != 32)
		return kerr_set(e, -EACCES, "", "invalid API key");
	snprintf(id, sizeof(id), "%.8s-%.4s-%.4s-%.4s-%.12s", p, p + 8, p + 12, p + 16, p + 20);
	if (!uuid_valid(id))
		return kerr_set(e, -EACCES, "", "invalid API key");
	r = store_get("api-keys", id, NULL, false, &key);
	if (r == -ENOENT)
		return kerr_set(e, -EACCES, "", "invalid API key");
	if (r < 0)
		return store_unavailable(e, r);
	h = sha256_hex(sep + 1, strlen(sep + 1));
	ok = str_eq_ct(h, jstr(key, "secret_hash"));
	free(h);
	exp = expiry_ms(key);
	if (!ok || expired_at(exp)) {
		json_decref(key);
		return kerr_set(e, -EACCES, "", ok ? "API key expired" : "invalid API key");
	}
	snprintf(a->account_id, sizeof(a->account_id), "%s", jstr(key, "account_id"));
	snprintf(a->user_id, sizeof(a->user_id), "%s", jstr(key, "user_id"));
	snprintf(a->token_id, sizeof(a->token_id), "%s", id);
	a->role = (int)jint(key, "role_level", ROLE_VIEWER);
	*ret_expires = exp;
	json_decref(key);
	return 0;
}

/* digest: the token's SHA-256, whose hex is the session's id. */
static int auth_session(const unsigned char *digest, struct auth *a, int64_t *ret_expires,
                        struct kerr *e)
{
	char h[crypto_hash_sha256_BYTES * 2 + 1];
	json_t *s = NULL;
	int64_t exp = INT64_MIN;
	int r;

	sodium_bin2hex(h, sizeof(h), digest, crypto_hash_sha256_BYTES);
	r = store_get("sessions", h, NULL, false, &s);
	if (r < 0 && r != -ENOENT)
		return store_unavailable(e, r);
	if (r == 0)
		exp = expiry_ms(s);
	if (r < 0 || expired_at(exp)) {
		json_decref(s);
		return kerr_set(e, -EACCES, "",
		                r < 0 ? "invalid or revoked token" : "token expired");
	}
	snprintf(a->account_id, sizeof(a->account_id), "%s", jstr(s, "account_id"));
	snprintf(a->user_id, sizeof(a->user_id), "%s", jstr(s, "user_id"));
	snprintf(a->token_id, sizeof(a->token_id), "%s", h);
	a->is_session = true;
	a->role = (int)jint(s, "role_level", ROLE_VIEWER);
	*ret_expires = exp;
	json_decref(s);
	return 0;
}

/* A session or API key: from the cache, else from the store (and cached). */
static int auth_token(const char *token, struct auth *a, struct kerr *e)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	bool session = str_startswith(token, "kst_");
	int64_t exp = INT64_MIN, checked;
	uint64_t epoch;
	int r;

	if (!session && !str_startswith(token, "kak_"))
		return kerr_set(e, -EACCES, "", "invalid token");
	crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
	if (cache_get(digest, a, &exp)) {
		if (!expired_at(exp))
			return 0;
		memset(a, 0, sizeof(*a));
		return kerr_set(e, -EACCES, "", session ? "token expired" : "API key expired");
	}
	/* Read before the store: a revocation from now on makes this stale. */
	epoch = atomic_load(&cache.epoch);
	checked = mono_ms();
	r = session ? auth_session(digest, a, &exp, e) : auth_api_key(token, a, &exp, e);
	if (r == 0)
		cache_put(digest, a, exp, epoch, checked);
	return r;
}

int auth_token_check(const char *token, struct auth *ret, struct kerr *e)
{
	struct auth a = { 0 };
	int r;

	if (!token || strlen(token) > 200)
		return kerr_set(e, -EACCES, "", "invalid token");
	r = auth_token(token, &a, e);
	if (r == 0)
		*ret = a;
	return r;
}

uint64_t auth_cache_epoch(void)
{
	return atomic_load(&cache.epoch);
}

int auth_hook(struct http_request *req, int min_role, struct kerr *e)
{
	const char *token = bearer(req);
	struct auth *a;
	int r;

	if (!token)
		return kerr_set(e, -EACCES, "", "missing bearer token");
	if (strlen(token) > 200)
		return kerr_set(e, -EACCES, "", "invalid token");
	a = xcalloc(1, sizeof(*a));
	if (min_role == ROLE_AGENT)
		r = auth_agent(req, token, a, e);
	else
		r = auth_token(token, a, e);
	if (r < 0) {
		free(a);
		return r;
	}
	if (min_role != ROLE_AGENT && a->role < min_role) {
		r = kerr_set(e, -EPERM, "", "this needs the %s role; you have %s",
		             role_name(min_role), role_name(a->role));
		free(a);
		return r;
	}
	req->auth = a;
	return 0;
}

void auth_free(void *auth)
{
	free(auth);
}

int auth_revoke_user(const char *user_id)
{
	static const char *const kinds[] = { "sessions", "api-keys" };
	int r = 0;

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		struct list_query q;
		json_t *items = NULL, *it;
		int64_t total;
		size_t i;

		list_query_init(&q);
		query_add_eq(&q, "user_id", user_id);
		q.limit = 0; /* all */
		r = store_list(kinds[k], &q, &items, &total);
		list_query_free(&q);
		if (r < 0)
			return r;
		json_array_foreach(items, i, it) store_delete(kinds[k], jstr(it, "id"));
		json_decref(items);
	}
	return 0;
}

/* --- first start ---------------------------------------------------------- */

static int bootstrap_admin(const char *data_dir)
{
	char acct_id[UUID_LEN + 1], user_id[UUID_LEN + 1];
	char *pw = NULL, *hash = NULL, *path = NULL, *now = NULL, *content = NULL;
	json_t *acct = NULL, *user = NULL, *quota = NULL;
	int r;

	r = store_get_by_name("accounts", "admin", NULL, &acct);
	if (r == 0) {
		json_decref(acct);
		return 0;
	}
	pw = random_hex(12);
	hash = auth_hash_password(pw);
	if (!hash) {
		r = -ENOMEM;
		goto out;
	}
	now = time_now_str();
	uuid_new(acct_id);
	uuid_new(user_id);
	acct = json_pack("{s:s,s:n,s:s,s:s,s:s,s:s,s:s}", "id", acct_id, "account_id", "name",
	                 "admin", "description", "the cloud's administrators", "state", "enabled",
	                 "created_at", now, "updated_at", now);
	user = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", user_id, "account_id", acct_id,
	                 "name", "admin", "role", "admin", "state", "enabled", "password_hash",
	                 hash, "created_at", now, "updated_at", now);
	quota = json_pack("{s:s,s:s,s:n,s:i,s:i,s:i,s:s,s:s}", "id", acct_id, "account_id", acct_id,
	                  "name", "vm_count", -1, "vcpus", -1, "memory_mb", -1, "created_at", now,
	                  "updated_at", now);
	r = store_begin();
	if (r < 0)
		goto out;
	r = store_insert("accounts", acct, true);
	if (r == 0)
		r = store_insert("users", user, true);
	if (r == 0)
		r = store_insert("quotas", quota, false);
	if (r < 0) {
		store_rollback();
		goto out;
	}
	path = xasprintf("%s/admin.password", data_dir);
	content = xasprintf("%s\n", pw);
	r = file_write_atomic(path, content, strlen(content), 0600);
	if (r < 0) {
		store_rollback();
		log_err("cannot write %s: %s", path, strerror(-r));
		goto out;
	}
	r = store_commit();
	if (r == 0)
		log_info("created account admin, user admin; password in %s", path);
out:
	if (pw)
		sodium_memzero(pw, strlen(pw));
	free(pw);
	free(hash);
	free(path);
	free(now);
	free(content);
	json_decref(acct);
	json_decref(user);
	json_decref(quota);
	return r;
}

static int bootstrap_join_token(const char *data_dir)
{
	char *path = xasprintf("%s/join.token", data_dir);
	char *tok = NULL;
	int r;

	r = file_read(path, 4096, &tok, NULL);
	if (r == -ENOENT) {
		char *rnd = random_hex(32);

		tok = xasprintf("kjt_%s\n", rnd);
		free(rnd);
		r = file_write_atomic(path, tok, strlen(tok), 0600);
		if (r < 0)
			log_err("cannot write %s: %s", path, strerror(-r));
	}
	if (r == 0) {
		str_rstrip(tok);
		free(kumod_cfg.join_token_hash);
		kumod_cfg.join_token_hash = sha256_hex(tok, strlen(tok));
	}
	free(tok);
	free(path);
	return r;
}

int auth_bootstrap(const char *data_dir)
{
	int r;

	if (sodium_init() < 0)
		return -EIO;
	r = bootstrap_admin(data_dir);
	if (r < 0)
		return r;
	return bootstrap_join_token(data_dir);
}
