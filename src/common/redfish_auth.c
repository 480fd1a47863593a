// SPDX-License-Identifier: MIT
/*
 * Redfish accounts and sessions: the account file, password hashing and
 * checks (Argon2id through libsodium, at most ARGON_PARALLEL at a time),
 * the Basic-auth result cache, lockout and the per-address limit,
 * sessions and their file, and the predefined roles. What these look like as
 * Redfish resources is the agent's business (rf_account.c, rf_session.c);
 * nothing here knows about HTTP.
 *
 * One mutex guards the whole state; password hashes and checks run with
 * it released, so a login never holds up other requests for tens of ms.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/redfish_auth.h"
#include "common/util.h"

#define FILE_MAX (1024 * 1024)
#define CACHE_SLOTS 64
#define ADDR_SLOTS 256
#define ADDR_WINDOW_MS 60000
#define ARGON_PARALLEL 2 /* Argon2id runs at once (64 MiB each) */
#define TOKEN_BYTES 32
#define SESSION_ID_BYTES 8
#define ADMIN_PASSWORD_BYTES 12
#define LOCKOUT_THRESHOLD_DEFAULT 5
#define LOCKOUT_DURATION_DEFAULT 30
#define LOCKOUT_RESET_DEFAULT 30
#define SESSIONS_VERSION 1
#define PASSWORD_TAG_BYTES 16

const struct rf_role rf_roles[] = {
	{ "Administrator",
	  RF_PRIV_LOGIN | RF_PRIV_CONFIGURE_MANAGER | RF_PRIV_CONFIGURE_USERS |
	      RF_PRIV_CONFIGURE_COMPONENTS | RF_PRIV_CONFIGURE_SELF,
	  "Administrator User Role" },
	{ "Operator", RF_PRIV_LOGIN | RF_PRIV_CONFIGURE_COMPONENTS | RF_PRIV_CONFIGURE_SELF,
	  "Operator User Role" },
	{ "ReadOnly", RF_PRIV_LOGIN | RF_PRIV_CONFIGURE_SELF, "ReadOnly User Role" },
	{ NULL, 0, NULL },
};

static const char *const priv_names[] = { "Login", "ConfigureManager", "ConfigureUsers",
	                                  "ConfigureComponents", "ConfigureSelf" };

const struct rf_role *rf_role_find(const char *id)
{
	for (const struct rf_role *r = rf_roles; id && r->id; r++)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

json_t *rf_privs_json(unsigned privs)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(priv_names); i++)
		if (privs & (1u << i))
			json_array_append_new(a, json_string(priv_names[i]));
	return a;
}

struct account {
	char id[RF_NAME_MAX];
	char user[RF_USER_MAX + 1];
	char role[RF_NAME_MAX];
	char *hash; /* owned; Argon2id string */
	bool enabled;
	int failures;          /* failed logins since first_failure */
	int64_t first_failure; /* mono ms */
	int64_t locked_until;  /* mono ms; 0 = not locked */
};

struct session {
	char id[RF_NAME_MAX];
	unsigned char token_hash[crypto_hash_sha256_BYTES];
	char account_id[RF_NAME_MAX];
	char addr[64];
	int64_t created;    /* wall ms */
	int64_t last;       /* mono ms */
	int64_t saved_last; /* mono ms: last as the session file has it */
};

struct cache_entry {
	unsigned char key[crypto_generichash_BYTES];
	char account_id[RF_NAME_MAX];
	uint64_t gen;
	int64_t expires; /* mono ms; 0 = empty */
};

struct addr_slot {
	char addr[64];
	int failures;
	int64_t start; /* mono ms */
};

struct rf_auth {
	pthread_mutex_t lock;
	sem_t argon; /* ARGON_PARALLEL */
	char *dir;
	char *path;          /* DIR/accounts.json */
	char *sessions_path; /* DIR/sessions.json */
	bool bootstrapped;
	struct account accounts[RF_ACCOUNTS_MAX];
	int naccounts;
	long next_id;
	struct session sessions[RF_SESSIONS_MAX]; /* oldest first */
	int nsessions;
	int sessions_restored, sessions_dropped; /* by rf_auth_open() */
	int sessions_error;                      /* the file was ignored: why */
	int64_t touch_retry;                     /* mono ms: no last-use write before */
	int session_timeout_s;
	struct rf_account_policy policy;
	uint64_t gen; /* bumped by every account change: the cache is then stale */
	unsigned char cache_key[crypto_generichash_KEYBYTES];
	struct cache_entry cache[CACHE_SLOTS];
	struct addr_slot addrs[ADDR_SLOTS];
	char *dummy_hash; /* checked for unknown users, so timing tells nothing */
};

/* ---- passwords ---- */

static char *hash_password(struct rf_auth *a, const char *pw)
{
	char out[crypto_pwhash_STRBYTES];
	int r;

	sem_wait(&a->argon);
	r = crypto_pwhash_str_alg(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                          crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
	sem_post(&a->argon);
	return r == 0 ? xstrdup(out) : NULL;
}

static bool verify_password(struct rf_auth *a, const char *hash, const char *pw)
{
	bool ok;

	sem_wait(&a->argon);
	ok = hash && crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
	sem_post(&a->argon);
	return ok;
}

static bool user_valid(const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (n == 0 || n > RF_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = u[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool password_valid(const char *pw)
{
	size_t n = pw ? strlen(pw) : 0;

	return n >= RF_PASSWORD_MIN && n <= RF_PASSWORD_MAX;
}

/* ---- the file ---- */

static struct account *account_by_id(struct rf_auth *a, const char *id)
{
	for (int i = 0; id && i < a->naccounts; i++)
		if (strcmp(a->accounts[i].id, id) == 0)
			return &a->accounts[i];
	return NULL;
}

static struct account *account_by_user(struct rf_auth *a, const char *user)
{
	for (int i = 0; user && i < a->naccounts; i++)
		if (strcmp(a->accounts[i].user, user) == 0)
			return &a->accounts[i];
	return NULL;
}

static int save_locked(struct rf_auth *a)
{
	json_t *accts = json_array(), *doc;
	char *s;
	int r;

	for (int i = 0; i < a->naccounts; i++) {
		const struct account *ac = &a->accounts[i];

		json_array_append_new(accts,
		                      json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", ac->id, "user",
		                                ac->user, "role", ac->role, "enabled", ac->enabled,
		                                "password_hash", ac->hash));
	}
	doc = json_pack("{s:i, s:I, s:i, s:{s:i, s:i, s:i}, s:o}", "version", 1, "next_id",
	                (json_int_t)a->next_id, "session_timeout", a->session_timeout_s, "policy",
	                "lockout_threshold", a->policy.lockout_threshold, "lockout_duration",
	                a->policy.lockout_duration_s, "lockout_reset", a->policy.lockout_reset_s,
	                "accounts", accts);
	s = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	r = file_write_atomic(a->path, s, strlen(s), 0600);
	sodium_memzero(s, strlen(s));
	free(s);
	a->gen++;
	return r;
}

static int load_account(struct rf_auth *a, const json_t *o)
{
	struct account *ac;
	const char *id = jstr(o, "id"), *user = jstr(o, "user"), *role = jstr(o, "role");
	const char *hash = jstr(o, "password_hash");

	if (!id || strlen(id) >= RF_NAME_MAX || !user_valid(user) || !rf_role_find(role) || !hash ||
	    !str_startswith(hash, "$argon2") || a->naccounts >= RF_ACCOUNTS_MAX ||
	    account_by_id(a, id) || account_by_user(a, user))
		return -EINVAL;
	ac = &a->accounts[a->naccounts++];
	memset(ac, 0, sizeof(*ac));
	snprintf(ac->id, sizeof(ac->id), "%s", id);
	snprintf(ac->user, sizeof(ac->user), "%s", user);
	snprintf(ac->role, sizeof(ac->role), "%s", role);
	ac->hash = xstrdup(hash);
	ac->enabled = jbool(o, "enabled", true);
	return 0;
}

static int load(struct rf_auth *a, const char *data, size_t len)
{
	json_t *doc = jparse(data, len, NULL, 0), *accts, *v;
	json_t *pol;
	size_t i;
	int r = 0;

	accts = json_object_get(doc, "accounts");
	if (!json_is_object(doc) || !json_is_array(accts)) {
		json_decref(doc);
		return -EINVAL;
	}
	a->next_id = (long)jint(doc, "next_id", 1);
	a->session_timeout_s = (int)jint(doc, "session_timeout", a->session_timeout_s);
	pol = json_object_get(doc, "policy");
	a->policy.lockout_threshold =
	    (int)jint(pol, "lockout_threshold", LOCKOUT_THRESHOLD_DEFAULT);
	a->policy.lockout_duration_s = (int)jint(pol, "lockout_duration", LOCKOUT_DURATION_DEFAULT);
	a->policy.lockout_reset_s = (int)jint(pol, "lockout_reset", LOCKOUT_RESET_DEFAULT);
	json_array_foreach(accts, i, v)
	{
		r = load_account(a, v);
		if (r < 0)
			break;
		if (atol(a->accounts[a->naccounts - 1].id) >= a->next_id)
			a->next_id = atol(a->accounts[a->naccounts - 1].id) + 1;
	}
	json_decref(doc);
	if (a->session_timeout_s < RF_SESSION_TIMEOUT_MIN ||
	    a->session_timeout_s > RF_SESSION_TIMEOUT_MAX)
		a->session_timeout_s = RF_SESSION_TIMEOUT_DEFAULT;
	return r;
}

/* First start: the admin account, its password in DIR/admin-password. */
static int bootstrap(struct rf_auth *a)
{
	char *pw = random_hex(ADMIN_PASSWORD_BYTES), *content = xasprintf("%s\n", pw);
	char *pwpath = xasprintf("%s/%s", a->dir, RF_ADMIN_PASSWORD_FILE);
	struct account *ac = &a->accounts[0];
	int r;

	memset(ac, 0, sizeof(*ac));
	ac->hash = hash_password(a, pw);
	if (!ac->hash) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(ac->id, sizeof(ac->id), "1");
	snprintf(ac->user, sizeof(ac->user), "%s", RF_ADMIN_USER);
	snprintf(ac->role, sizeof(ac->role), "Administrator");
	ac->enabled = true;
	a->naccounts = 1;
	a->next_id = 2;
	r = file_write_atomic(pwpath, content, strlen(content), 0600);
	if (r == 0)
		r = save_locked(a);
	if (r == 0)
		a->bootstrapped = true;
out:
	sodium_memzero(pw, strlen(pw));
	sodium_memzero(content, strlen(content));
	free(pw);
	free(content);
	free(pwpath);
	return r;
}

/* ---- the session file ----
 *
 * DIR/sessions.json (0600) holds each session's id, the SHA-256 of its
 * token (never the token), its account, client address, creation and last
 * use (wall ms), and a tag of the account's password hash: a session comes
 * back at start only while its account exists, is enabled and has the same
 * password (a new password ends the other sessions even if the agent
 * stopped before this file was written), and only if it is not idle past
 * SessionTimeout. Written when a session is made or deleted, when an
 * account's sessions end, and when a session's last use is session_touch_ms()
 * ahead of the file's. */

static int64_t session_touch_ms(const struct rf_auth *a)
{
	int64_t quarter = (int64_t)a->session_timeout_s * 1000 / 4;

	return quarter < RF_SESSION_TOUCH_MS ? quarter : RF_SESSION_TOUCH_MS;
}

static void password_tag(const struct account *ac, char out[2 * PASSWORD_TAG_BYTES + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)ac->hash, strlen(ac->hash));
	sodium_bin2hex(out, 2 * PASSWORD_TAG_BYTES + 1, h, PASSWORD_TAG_BYTES);
}

/* Writes every session but skip (-1: none) as it is now. 0 or -errno. */
static int sessions_save_locked(struct rf_auth *a, int skip)
{
	char hash[2 * crypto_hash_sha256_BYTES + 1], tag[2 * PASSWORD_TAG_BYTES + 1];
	int64_t mono = mono_ms(), wall = now_ms();
	json_t *list = json_array(), *doc;
	char *text;
	int r;

	for (int i = 0; i < a->nsessions; i++) {
		const struct session *s = &a->sessions[i];
		const struct account *ac = account_by_id(a, s->account_id);

		if (i == skip || !ac)
			continue;
		sodium_bin2hex(hash, sizeof(hash), s->token_hash, sizeof(s->token_hash));
		password_tag(ac, tag);
		json_array_append_new(list,
		                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", s->id,
		                                "token_sha256", hash, "account_id", s->account_id,
		                                "password_tag", tag, "addr", s->addr, "created_ms",
		                                (json_int_t)s->created, "last_ms",
		                                (json_int_t)(wall - (mono - s->last))));
	}
	doc = json_pack("{s:i, s:o}", "version", SESSIONS_VERSION, "sessions", list);
	text = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	r = file_write_atomic(a->sessions_path, text, strlen(text), 0600);
	free(text);
	for (int i = 0; r == 0 && i < a->nsessions; i++)
		a->sessions[i].saved_last = a->sessions[i].last;
	return r;
}

static const struct session *session_by_id(const struct rf_auth *a, const char *id)
{
	for (int i = 0; i < a->nsessions; i++)
		if (strcmp(a->sessions[i].id, id) == 0)
			return &a->sessions[i];
	return NULL;
}

/* One session of the file into memory, if it may come back. */
static bool session_restore(struct rf_auth *a, const json_t *o, int64_t wall, int64_t mono)
{
	const char *id = jstr(o, "id"), *hash = jstr(o, "token_sha256"),
	           *tag = jstr(o, "password_tag");
	const char *addr = jstr(o, "addr");
	const struct account *ac = account_by_id(a, jstr(o, "account_id"));
	int64_t last = jint(o, "last_ms", 0);
	char want[2 * PASSWORD_TAG_BYTES + 1];
	struct session *s;
	size_t n = 0;

	if (!id || strlen(id) >= RF_NAME_MAX || session_by_id(a, id) || !hash || !tag || !ac ||
	    !ac->enabled || a->nsessions >= RF_SESSIONS_MAX)
		return false;
	password_tag(ac, want);
	if (strcmp(tag, want) != 0)
		return false;
	if (last > wall)
		last = wall;
	if (wall - last > (int64_t)a->session_timeout_s * 1000)
		return false;
	s = &a->sessions[a->nsessions];
	memset(s, 0, sizeof(*s));
	if (strlen(hash) != 2 * sizeof(s->token_hash) ||
	    sodium_hex2bin(s->token_hash, sizeof(s->token_hash), hash, strlen(hash), NULL, &n,
	                   NULL) != 0 ||
	    n != sizeof(s->token_hash))
		return false;
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->account_id, sizeof(s->account_id), "%s", ac->id);
	snprintf(s->addr, sizeof(s->addr), "%s", addr ? addr : "");
	s->created = jint(o, "created_ms", wall);
	s->last = mono - (wall - last);
	s->saved_last = s->last;
	a->nsessions++;
	return true;
}

/* The sessions of DIR/sessions.json that may come back (the accounts are
 * loaded). A file that is not a session file is ignored: sessions_error. */
static void sessions_load(struct rf_auth *a)
{
	int64_t wall = now_ms(), mono = mono_ms();
	json_t *doc, *list, *v;
	char *data = NULL;
	size_t len = 0, i;
	int r;

	r = file_read(a->sessions_path, FILE_MAX, &data, &len);
	if (r < 0) {
		a->sessions_error = r == -ENOENT ? 0 : r;
		return;
	}
	doc = jparse(data, len, NULL, 0);
	free(data);
	list = json_object_get(doc, "sessions");
	if (!json_is_object(doc) || jint(doc, "version", 0) != SESSIONS_VERSION ||
	    !json_is_array(list)) {
		a->sessions_error = -EINVAL;
		json_decref(doc);
		return;
	}
	json_array_foreach(list, i, v)
	{
		if (session_restore(a, v, wall, mono))
			a->sessions_restored++;
		else
			a->sessions_dropped++;
	}
	json_decref(doc);
}

int rf_auth_open(const struct rf_auth_config *cfg, struct rf_auth **ret)
{
	struct rf_auth *a;
	char *data = NULL;
	size_t len = 0;
	int r;

	if (!cfg || str_empty(cfg->dir))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	r = mkdir_p(cfg->dir, 0700);
	if (r < 0)
		return r;
	a = xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	sem_init(&a->argon, 0, ARGON_PARALLEL);
	a->dir = xstrdup(cfg->dir);
	a->path = xasprintf("%s/%s", cfg->dir, RF_ACCOUNTS_FILE);
	a->sessions_path = xasprintf("%s/%s", cfg->dir, RF_SESSIONS_FILE);
	a->session_timeout_s =
	    cfg->session_timeout_s > 0 ? cfg->session_timeout_s : RF_SESSION_TIMEOUT_DEFAULT;
	a->policy = (struct rf_account_policy){ LOCKOUT_THRESHOLD_DEFAULT, LOCKOUT_DURATION_DEFAULT,
		                                LOCKOUT_RESET_DEFAULT };
	a->next_id = 1;
	randombytes_buf(a->cache_key, sizeof(a->cache_key));
	r = file_read(a->path, FILE_MAX, &data, &len);
	if (r == 0)
		r = load(a, data, len);
	else if (r == -ENOENT)
		r = bootstrap(a);
	if (data)
		sodium_memzero(data, len);
	free(data);
	if (r == 0) {
		a->dummy_hash = hash_password(a, "kumo-redfish-no-such-user");
		if (!a->dummy_hash)
			r = -ENOMEM;
	}
	if (r == 0) {
		if (!a->bootstrapped) /* new accounts: the old sessions are not theirs */
			sessions_load(a);
		/* what came back, and nothing else: a failure shows at the next write */
		(void)sessions_save_locked(a, -1);
	}
	if (r < 0) {
		rf_auth_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

struct rf_auth *rf_auth_free(struct rf_auth *a)
{
	if (!a)
		return NULL;
	for (int i = 0; i < a->naccounts; i++)
		free(a->accounts[i].hash);
	sodium_memzero(a->sessions, sizeof(a->sessions));
	sodium_memzero(a->cache, sizeof(a->cache));
	free(a->dummy_hash);
	free(a->dir);
	free(a->path);
	free(a->sessions_path);
	sem_destroy(&a->argon);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return NULL;
}

bool rf_auth_bootstrapped(const struct rf_auth *a)
{
	return a->bootstrapped;
}

int rf_auth_sessions_restored(const struct rf_auth *a, int *ret_dropped)
{
	if (a->sessions_error < 0)
		return a->sessions_error;
	*ret_dropped = a->sessions_dropped;
	return a->sessions_restored;
}

/* ---- failed logins ---- */

static struct addr_slot *addr_slot(struct rf_auth *a, const char *addr, bool create)
{
	int64_t now = mono_ms();
	struct addr_slot *oldest = &a->addrs[0];

	for (int i = 0; i < ADDR_SLOTS; i++) {
		struct addr_slot *s = &a->addrs[i];

		if (s->addr[0] && now - s->start > ADDR_WINDOW_MS)
			s->addr[0] = '\0';
		if (s->addr[0] && strcmp(s->addr, addr) == 0)
			return s;
		if (!s->addr[0] || s->start < oldest->start)
			oldest = s;
	}
	if (!create)
		return NULL;
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->failures = 0;
	oldest->start = now;
	return oldest;
}

static bool locked(const struct rf_auth *a, const struct account *ac)
{
	return a->policy.lockout_threshold > 0 && ac->locked_until > mono_ms();
}

static void login_failed(struct rf_auth *a, struct account *ac, const char *addr)
{
	int64_t now = mono_ms();

	addr_slot(a, addr, true)->failures++;
	if (!ac || a->policy.lockout_threshold <= 0)
		return;
	if (ac->failures == 0 ||
	    now - ac->first_failure > (int64_t)a->policy.lockout_reset_s * 1000) {
		ac->failures = 0;
		ac->first_failure = now;
	}
	if (++ac->failures >= a->policy.lockout_threshold) {
		ac->locked_until = a->policy.lockout_duration_s > 0
		                       ? now + (int64_t)a->policy.lockout_duration_s * 1000
		                       : INT64_MAX;
		ac->failures = 0;
	}
}

/* ---- the Basic cache ---- */

static void cache_key(const struct rf_auth *a, const char *user, const char *pw,
                      unsigned char out[crypto_generichash_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, a->cache_key, sizeof(a->cache_key), crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)user, strlen(user) + 1);
	crypto_generichash_update(&st, (const unsigned char *)pw, strlen(pw));
	crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}

static struct cache_entry *cache_find(struct rf_auth *a, const unsigned char *key)
{
	int64_t now = mono_ms();

	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct cache_entry *e = &a->cache[i];

		if (e->expires > now && e->gen == a->gen &&
		    sodium_memcmp(e->key, key, crypto_generichash_BYTES) == 0)
			return e;
	}
	return NULL;
}

static void cache_put(struct rf_auth *a, const unsigned char *key, const char *account_id)
{
	int64_t now = mono_ms();
	struct cache_entry *slot = &a->cache[0];

	/* A free or stale slot, else the one that expires first. */
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct cache_entry *e = &a->cache[i];

		if (e->expires <= now || e->gen != a->gen) {
			slot = e;
			break;
		}
		if (e->expires < slot->expires)
			slot = e;
	}
	memcpy(slot->key, key, crypto_generichash_BYTES);
	snprintf(slot->account_id, sizeof(slot->account_id), "%s", account_id);
	slot->gen = a->gen;
	slot->expires = now + RF_BASIC_CACHE_MS;
}

/* ---- credentials ---- */

static void fill_who(const struct account *ac, const char *session_id, struct rf_principal *who)
{
	const struct rf_role *role = rf_role_find(ac->role);

	memset(who, 0, sizeof(*who));
	snprintf(who->user, sizeof(who->user), "%s", ac->user);
	snprintf(who->role, sizeof(who->role), "%s", ac->role);
	snprintf(who->account_id, sizeof(who->account_id), "%s", ac->id);
	snprintf(who->session_id, sizeof(who->session_id), "%s", session_id ? session_id : "");
	who->privs = role ? role->privs : 0;
}

/* Checks user and password; 0 and the account's id, -EACCES or -EAGAIN.
 * Called without the lock. */
static int check_login(struct rf_auth *a, const char *user, const char *pw, const char *addr,
                       char ret_id[RF_NAME_MAX])
{
	unsigned char key[crypto_generichash_BYTES];
	struct addr_slot *slot;
	struct account *ac;
	struct cache_entry *hit;
	char *hash = NULL, id[RF_NAME_MAX] = "";
	uint64_t gen;
	bool ok;
	int r = -EACCES;

	if (!user || !pw || strlen(pw) > RF_PASSWORD_MAX)
		return -EACCES;
	cache_key(a, user, pw, key);
	pthread_mutex_lock(&a->lock);
	slot = addr_slot(a, addr, false);
	if (slot && slot->failures >= RF_ADDR_FAILURES_MAX) {
		pthread_mutex_unlock(&a->lock);
		return -EAGAIN;
	}
	ac = account_by_user(a, user);
	if (ac && locked(a, ac)) {
		pthread_mutex_unlock(&a->lock);
		return -EACCES;
	}
	hit = ac ? cache_find(a, key) : NULL;
	if (hit && strcmp(hit->account_id, ac->id) == 0 && ac->enabled) {
		snprintf(ret_id, RF_NAME_MAX, "%s", ac->id);
		ac->failures = 0;
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
	if (ac) {
		hash = xstrdup(ac->hash);
		snprintf(id, sizeof(id), "%s", ac->id);
	}
	gen = a->gen;
	pthread_mutex_unlock(&a->lock);

	ok = verify_password(a, hash ? hash : a->dummy_hash, pw) && hash;

	pthread_mutex_lock(&a->lock);
	ac = account_by_id(a, id);
	/* The account may have changed meanwhile: a check against an old
	 * hash counts only if the hash is still the same. */
	if (ok && ac && (gen == a->gen || strcmp(ac->hash, hash) == 0) && ac->enabled &&
	    !locked(a, ac)) {
		ac->failures = 0;
		cache_put(a, key, ac->id);
		snprintf(ret_id, RF_NAME_MAX, "%s", ac->id);
		r = 0;
	} else if (!ok) {
		login_failed(a, ac, addr);
	}
	pthread_mutex_unlock(&a->lock);
	free(hash);
	sodium_memzero(key, sizeof(key));
	return r;
}

int rf_auth_basic(struct rf_auth *a, const char *user, const char *password, const char *addr,
                  struct rf_principal *ret_who)
{
	char id[RF_NAME_MAX];
	struct account *ac;
	int r;

	r = check_login(a, user, password, addr ? addr : "unknown", id);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	ac = account_by_id(a, id);
	if (ac)
		fill_who(ac, NULL, ret_who);
	else
		r = -EACCES;
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* ---- sessions ---- */

static void session_remove(struct rf_auth *a, int i)
{
	sodium_memzero(&a->sessions[i], sizeof(a->sessions[i]));
	memmove(&a->sessions[i], &a->sessions[i + 1],
	        sizeof(a->sessions[0]) * (size_t)(a->nsessions - i - 1));
	a->nsessions--;
}

/* Ends expired sessions and those of accounts gone or disabled. */
static void sessions_prune(struct rf_auth *a)
{
	int64_t now = mono_ms();

	for (int i = 0; i < a->nsessions; i++) {
		const struct session *s = &a->sessions[i];
		const struct account *ac = account_by_id(a, s->account_id);

		if (now - s->last > (int64_t)a->session_timeout_s * 1000 || !ac || !ac->enabled) {
			session_remove(a, i);
			i--;
		}
	}
}

/* Ends the sessions of an account, but keep (may be NULL), and writes the
 * session file. A failed write is not the caller's failure: at start, the
 * file's sessions of an account that is gone, disabled or has a new
 * password do not come back anyway. */
static void sessions_end_account(struct rf_auth *a, const char *account_id, const char *keep)
{
	for (int i = 0; i < a->nsessions; i++)
		if (strcmp(a->sessions[i].account_id, account_id) == 0 &&
		    !(keep && strcmp(a->sessions[i].id, keep) == 0)) {
			session_remove(a, i);
			i--;
		}
	(void)sessions_save_locked(a, -1);
}

int rf_session_create(struct rf_auth *a, const char *user, const char *password, const char *addr,
                      char **ret_token, char ret_id[RF_NAME_MAX])
{
	char id[RF_NAME_MAX];
	char *token, *sid;
	struct session *s;
	int r;

	r = check_login(a, user, password, addr ? addr : "unknown", id);
	if (r < 0)
		return r;
	token = random_hex(TOKEN_BYTES);
	sid = random_hex(SESSION_ID_BYTES);
	pthread_mutex_lock(&a->lock);
	sessions_prune(a);
	if (a->nsessions >= RF_SESSIONS_MAX) {
		r = -ENOSPC;
		goto out;
	}
	if (!account_by_id(a, id)) {
		r = -EACCES;
		goto out;
	}
	s = &a->sessions[a->nsessions++];
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", sid);
	crypto_hash_sha256(s->token_hash, (const unsigned char *)token, strlen(token));
	snprintf(s->account_id, sizeof(s->account_id), "%s", id);
	snprintf(s->addr, sizeof(s->addr), "%s", addr ? addr : "");
	s->created = now_ms();
	s->last = mono_ms();
	r = sessions_save_locked(a, -1);
	if (r < 0) { /* a session that would not outlive a restart: none */
		session_remove(a, a->nsessions - 1);
		goto out;
	}
	snprintf(ret_id, RF_NAME_MAX, "%s", sid);
	*ret_token = token;
	token = NULL;
out:
	pthread_mutex_unlock(&a->lock);
	free(sid);
	if (token)
		sodium_memzero(token, strlen(token));
	free(token);
	return r;
}

int rf_auth_token(struct rf_auth *a, const char *token, struct rf_principal *ret_who)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	int r = -EACCES;

	if (!token || strlen(token) != 2 * TOKEN_BYTES)
		return -EACCES;
	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	pthread_mutex_lock(&a->lock);
	sessions_prune(a);
	for (int i = 0; i < a->nsessions; i++) {
		struct session *s = &a->sessions[i];

		if (sodium_memcmp(s->token_hash, h, sizeof(h)) != 0)
			continue;
		fill_who(account_by_id(a, s->account_id), s->id, ret_who);
		s->last = mono_ms();
		/* the file's last use, at most session_touch_ms() behind */
		if (s->last - s->saved_last >= session_touch_ms(a) && s->last >= a->touch_retry &&
		    sessions_save_locked(a, -1) < 0)
			a->touch_retry = s->last + session_touch_ms(a);
		r = 0;
		break;
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

int rf_session_delete(struct rf_auth *a, const char *id)
{
	int r = -ENOENT;

	pthread_mutex_lock(&a->lock);
	sessions_prune(a);
	for (int i = 0; id && i < a->nsessions; i++)
		if (strcmp(a->sessions[i].id, id) == 0) {
			/* gone from the file first: a logged-out token never comes back */
			r = sessions_save_locked(a, i);
			if (r == 0)
				session_remove(a, i);
			break;
		}
	pthread_mutex_unlock(&a->lock);
	return r;
}

json_t *rf_session_ids(struct rf_auth *a)
{
	json_t *ids = json_array();

	pthread_mutex_lock(&a->lock);
	sessions_prune(a);
	for (int i = 0; i < a->nsessions; i++)
		json_array_append_new(ids, json_string(a->sessions[i].id));
	pthread_mutex_unlock(&a->lock);
	return ids;
}

int rf_session_get(struct rf_auth *a, const char *id, json_t **ret)
{
	int r = -ENOENT;

	pthread_mutex_lock(&a->lock);
	sessions_prune(a);
	for (int i = 0; id && i < a->nsessions; i++) {
		const struct session *s = &a->sessions[i];
		const struct account *ac;

		if (strcmp(s->id, id) != 0)
			continue;
		ac = account_by_id(a, s->account_id);
		*ret = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", s->id, "user", ac->user,
		                 "account_id", ac->id, "addr", s->addr, "created_ms",
		                 (json_int_t)s->created, "last_ms",
		                 (json_int_t)(now_ms() - (mono_ms() - s->last)));
		r = 0;
		break;
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

int rf_session_timeout(struct rf_auth *a)
{
	int t;

	pthread_mutex_lock(&a->lock);
	t = a->session_timeout_s;
	pthread_mutex_unlock(&a->lock);
	return t;
}

int rf_session_set_timeout(struct rf_auth *a, int seconds)
{
	int r, old;

	if (seconds < RF_SESSION_TIMEOUT_MIN || seconds > RF_SESSION_TIMEOUT_MAX)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	old = a->session_timeout_s;
	a->session_timeout_s = seconds;
	r = save_locked(a);
	if (r < 0)
		a->session_timeout_s = old;
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* ---- accounts ---- */

json_t *rf_account_ids(struct rf_auth *a)
{
	json_t *ids = json_array();

	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < a->naccounts; i++)
		json_array_append_new(ids, json_string(a->accounts[i].id));
	pthread_mutex_unlock(&a->lock);
	return ids;
}

int rf_account_get(struct rf_auth *a, const char *id, json_t **ret)
{
	const struct account *ac;
	int r = -ENOENT;

	pthread_mutex_lock(&a->lock);
	ac = account_by_id(a, id);
	if (ac) {
		*ret = json_pack("{s:s, s:s, s:s, s:b, s:b}", "id", ac->id, "user", ac->user,
		                 "role", ac->role, "enabled", ac->enabled, "locked", locked(a, ac));
		r = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

int rf_account_find(struct rf_auth *a, const char *user, char ret_id[RF_NAME_MAX])
{
	const struct account *ac;
	int r = -ENOENT;

	pthread_mutex_lock(&a->lock);
	ac = account_by_user(a, user);
	if (ac) {
		snprintf(ret_id, RF_NAME_MAX, "%s", ac->id);
		r = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* Enabled Administrators. */
static int admins(const struct rf_auth *a)
{
	int n = 0;

	for (int i = 0; i < a->naccounts; i++)
		n += a->accounts[i].enabled && strcmp(a->accounts[i].role, "Administrator") == 0;
	return n;
}

int rf_account_create(struct rf_auth *a, const char *user, const char *password, const char *role,
                      bool enabled, char ret_id[RF_NAME_MAX], struct kerr *e)
{
	struct account *ac;
	char *hash;
	int r = 0;

	if (!user_valid(user))
		return kerr_set(e, -EINVAL, "UserName",
		                "user names are 1 to %d of A-Z a-z 0-9 . _ -", RF_USER_MAX);
	if (!password_valid(password))
		return kerr_set(e, -EINVAL, "Password", "passwords are %d to %d characters",
		                RF_PASSWORD_MIN, RF_PASSWORD_MAX);
	if (!rf_role_find(role))
		return kerr_set(e, -EINVAL, "RoleId", "no such role");
	hash = hash_password(a, password);
	if (!hash)
		return kerr_set(e, -ENOMEM, "Password", "cannot hash the password");
	pthread_mutex_lock(&a->lock);
	if (account_by_user(a, user)) {
		r = kerr_set(e, -EEXIST, "UserName", "the user name is taken");
		goto out;
	}
	if (a->naccounts >= RF_ACCOUNTS_MAX) {
		r = kerr_set(e, -ENOSPC, NULL, "there are %d accounts already", RF_ACCOUNTS_MAX);
		goto out;
	}
	ac = &a->accounts[a->naccounts++];
	memset(ac, 0, sizeof(*ac));
	snprintf(ac->id, sizeof(ac->id), "%ld", a->next_id++);
	snprintf(ac->user, sizeof(ac->user), "%s", user);
	snprintf(ac->role, sizeof(ac->role), "%s", role);
	ac->hash = hash;
	ac->enabled = enabled;
	hash = NULL;
	r = save_locked(a);
	if (r < 0) {
		free(ac->hash);
		a->naccounts--;
		a->next_id--;
		kerr_set(e, r, NULL, "cannot save the accounts: %s", strerror(-r));
		goto out;
	}
	snprintf(ret_id, RF_NAME_MAX, "%s", ac->id);
out:
	pthread_mutex_unlock(&a->lock);
	free(hash);
	return r;
}

/* Checks the changes that need no lock; 0 or -EINVAL with e. */
static int changes_valid(const json_t *changes, struct kerr *e)
{
	const json_t *v;

	if ((v = json_object_get(changes, "UserName")) && !user_valid(json_string_value(v)))
		return kerr_set(e, -EINVAL, "UserName", "bad user name");
	if ((v = json_object_get(changes, "Password")) && !password_valid(json_string_value(v)))
		return kerr_set(e, -EINVAL, "Password", "passwords are %d to %d characters",
		                RF_PASSWORD_MIN, RF_PASSWORD_MAX);
	if ((v = json_object_get(changes, "RoleId")) && !rf_role_find(json_string_value(v)))
		return kerr_set(e, -EINVAL, "RoleId", "no such role");
	if ((v = json_object_get(changes, "Enabled")) && !json_is_boolean(v))
		return kerr_set(e, -EINVAL, "Enabled", "a boolean");
	if ((v = json_object_get(changes, "Locked")) && !json_is_false(v))
		return kerr_set(e, -EINVAL, "Locked", "an account can only be unlocked");
	return 0;
}

int rf_account_update(struct rf_auth *a, const char *id, const json_t *changes,
                      const char *keep_session, struct kerr *e)
{
	const char *pw = jstr(changes, "Password"), *user = jstr(changes, "UserName");
	const char *role = jstr(changes, "RoleId");
	const json_t *en = json_object_get(changes, "Enabled");
	struct account *ac, old;
	char *hash = NULL;
	int r;

	r = changes_valid(changes, e);
	if (r < 0)
		return r;
	if (pw) {
		hash = hash_password(a, pw);
		if (!hash)
			return kerr_set(e, -ENOMEM, "Password", "cannot hash the password");
	}
	pthread_mutex_lock(&a->lock);
	ac = account_by_id(a, id);
	if (!ac) {
		r = kerr_set(e, -ENOENT, NULL, "no such account");
		goto out;
	}
	if (user && account_by_user(a, user) && account_by_user(a, user) != ac) {
		r = kerr_set(e, -EEXIST, "UserName", "the user name is taken");
		goto out;
	}
	old = *ac;
	if (user)
		snprintf(ac->user, sizeof(ac->user), "%s", user);
	if (role)
		snprintf(ac->role, sizeof(ac->role), "%s", role);
	if (en)
		ac->enabled = json_is_true(en);
	if (hash)
		ac->hash = hash;
	if (json_object_get(changes, "Locked")) {
		ac->locked_until = 0;
		ac->failures = 0;
	}
	if (admins(a) == 0) {
		*ac = old;
		r = kerr_set(e, -EBUSY, role ? "RoleId" : "Enabled",
		             "the last enabled Administrator must stay one");
		goto out;
	}
	r = save_locked(a);
	if (r < 0) {
		*ac = old;
		kerr_set(e, r, NULL, "cannot save the accounts: %s", strerror(-r));
		goto out;
	}
	if (hash) {
		free(old.hash);
		hash = NULL;
		sessions_end_account(a, ac->id, keep_session);
	}
	if (!ac->enabled)
		sessions_end_account(a, ac->id, NULL);
out:
	pthread_mutex_unlock(&a->lock);
	free(hash);
	return r;
}

int rf_account_delete(struct rf_auth *a, const char *id)
{
	struct account *ac, old;
	int r, i;

	pthread_mutex_lock(&a->lock);
	ac = account_by_id(a, id);
	if (!ac) {
		r = -ENOENT;
		goto out;
	}
	i = (int)(ac - a->accounts);
	old = *ac;
	memmove(ac, ac + 1, sizeof(*ac) * (size_t)(a->naccounts - i - 1));
	a->naccounts--;
	if (admins(a) == 0) {
		r = -EBUSY;
		goto undo;
	}
	r = save_locked(a);
	if (r < 0)
		goto undo;
	sessions_end_account(a, old.id, NULL);
	free(old.hash);
	goto out;
undo:
	memmove(&a->accounts[i + 1], &a->accounts[i], sizeof(*ac) * (size_t)(a->naccounts - i));
	a->accounts[i] = old;
	a->naccounts++;
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

void rf_auth_policy(struct rf_auth *a, struct rf_account_policy *ret)
{
	pthread_mutex_lock(&a->lock);
	*ret = a->policy;
	pthread_mutex_unlock(&a->lock);
}

int rf_auth_set_policy(struct rf_auth *a, const struct rf_account_policy *p)
{
	struct rf_account_policy old;
	int r;

	if (p->lockout_threshold < 0 || p->lockout_duration_s < 0 || p->lockout_reset_s < 0 ||
	    (p->lockout_duration_s > 0 && p->lockout_reset_s > p->lockout_duration_s))
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	old = a->policy;
	a->policy = *p;
	r = save_locked(a);
	if (r < 0)
		a->policy = old;
	pthread_mutex_unlock(&a->lock);
	return r;
}
