// SPDX-License-Identifier: MIT
/*
 * kumod's users as callers of the Redfish aggregator. Credentials are
 * kumod's own: a session token or API key (X-Auth-Token, as a Redfish
 * session token, or "Authorization: Bearer"), checked by auth.c with its
 * cache; or HTTP Basic with a kumod user's name and password, where the
 * name is "user" for the admin account (the only one that holds admins)
 * or "account/user". Passwords are checked exactly as POST /v1/sessions
 * checks them, failed-login limit included.
 *
 * Argon2id is slow on purpose, and Redfish clients send Basic credentials
 * with every request: a success is remembered for BASIC_CACHE_MS under a
 * keyed hash of the name and password (never the password), and
 * forgotten at once when auth.c's credential epoch moves (a password,
 * role, user or account change, a logout).
 *
 * Roles: a kumod admin is a Redfish Administrator; every other user is a
 * caller with no privilege, who gets 403 InsufficientPrivilege on all but
 * the open fixed URIs. Which routes need what is the modules' business.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "common/redfish_auth.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/role.h"
#include "kumod/store.h"

#define BASIC_MAX 256 /* decoded "name:password" */
#define BASIC_CACHE_SLOTS 64
#define BASIC_CACHE_MS 30000
#define LOGIN_MAX 128 /* "account/user" */

/* ---- Basic successes, remembered ---- */

struct basic_slot {
	unsigned char digest[crypto_generichash_BYTES];
	uint64_t epoch; /* auth_cache_epoch() when checked; 0 = empty */
	int64_t checked_ms;
	struct rf_principal who;
};

static struct {
	pthread_mutex_t lock;
	pthread_once_t once;
	unsigned char key[crypto_generichash_KEYBYTES];
	struct basic_slot slots[BASIC_CACHE_SLOTS];
} basic = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };

static void basic_init(void)
{
	randombytes_buf(basic.key, sizeof(basic.key));
}

static void basic_digest(const char *login, const char *password,
                         unsigned char out[crypto_generichash_BYTES])
{
	crypto_generichash_state st;

	pthread_once(&basic.once, basic_init);
	crypto_generichash_init(&st, basic.key, sizeof(basic.key), crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)login, strlen(login) + 1);
	crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
	crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}

static bool basic_get(const unsigned char *digest, struct rf_principal *ret)
{
	uint64_t epoch = auth_cache_epoch();
	int64_t now = mono_ms();
	bool hit = false;

	pthread_mutex_lock(&basic.lock);
	for (int i = 0; i < BASIC_CACHE_SLOTS && !hit; i++) {
		struct basic_slot *s = &basic.slots[i];

		if (s->epoch == epoch && now - s->checked_ms < BASIC_CACHE_MS &&
		    sodium_memcmp(s->digest, digest, sizeof(s->digest)) == 0) {
			*ret = s->who;
			hit = true;
		}
	}
	pthread_mutex_unlock(&basic.lock);
	return hit;
}

/* Keeps a success checked under epoch (read before the check), unless a
 * revocation came since. The slot checked longest ago goes. */
static void basic_put(const unsigned char *digest, const struct rf_principal *who, uint64_t epoch,
                      int64_t checked_ms)
{
	struct basic_slot *victim = NULL;

	pthread_mutex_lock(&basic.lock);
	if (epoch == auth_cache_epoch()) {
		for (int i = 0; i < BASIC_CACHE_SLOTS; i++) {
			struct basic_slot *s = &basic.slots[i];

			if (s->epoch == epoch &&
			    sodium_memcmp(s->digest, digest, sizeof(s->digest)) == 0) {
				victim = s; /* the same credentials, checked again */
				break;
			}
			if (!victim || (victim->epoch == epoch &&
			                (s->epoch != epoch || s->checked_ms < victim->checked_ms)))
				victim = s;
		}
		memcpy(victim->digest, digest, sizeof(victim->digest));
		victim->epoch = epoch;
		victim->checked_ms = checked_ms;
		victim->who = *who;
	}
	pthread_mutex_unlock(&basic.lock);
}

/* ---- passwords ---- */

static bool enabled(const json_t *doc)
{
	const char *state = jstr(doc, "state");

	return !state || strcmp(state, "enabled") == 0;
}

int rfa_check_password(const char *login, const char *password, const char *addr,
                       json_t **ret_account, json_t **ret_user)
{
	char account[LOGIN_MAX];
	const char *slash = strchr(login, '/'), *user = slash ? slash + 1 : login;
	json_t *acct = NULL, *u = NULL;
	bool ok = false;

	/* "user" is a user of the admin account, "account/user" of another. */
	if (!slash)
		snprintf(account, sizeof(account), "admin");
	else if ((size_t)(slash - login) < sizeof(account))
		snprintf(account, sizeof(account), "%.*s", (int)(slash - login), login);
	else
		return -EACCES;
	if (auth_login_allowed(account, addr) < 0)
		return -EAGAIN;
	if (store_get_by_name("accounts", account, NULL, &acct) == 0 && enabled(acct) &&
	    store_get_by_name("users", user, jstr(acct, "id"), &u) == 0 && enabled(u))
		ok = auth_check_password(jstr(u, "password_hash"), password);
	else
		auth_check_dummy(password); /* the same time for unknown users */
	if (!ok) {
		auth_login_failed(account, addr);
		log_info("redfish: failed login for %s from %s", login, addr);
		json_decref(acct);
		json_decref(u);
		return -EACCES;
	}
	auth_login_succeeded(account, addr);
	*ret_account = acct;
	*ret_user = u;
	return 0;
}

void rfa_principal_of(const json_t *user, struct rf_principal *ret)
{
	const struct rf_role *admin = rf_role_find("Administrator");

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->user, sizeof(ret->user), "%s", jstr(user, "name") ? jstr(user, "name") : "");
	if (role_parse(jstr(user, "role")) == ROLE_ADMIN && admin) {
		snprintf(ret->role, sizeof(ret->role), "%s", admin->id);
		ret->privs = admin->privs;
	}
	/* Every other kumod role: no Redfish privilege at all. */
}

/* ---- the headers ---- */

static int from_token(const char *token, struct rf_principal *ret)
{
	struct auth a;
	struct kerr e = { 0 };
	json_t *u = NULL;
	int r;

	r = auth_token_check(token, &a, &e);
	if (r < 0)
		return r == -ENOTCONN ? -ENOTCONN : -EACCES;
	if (a.role != ROLE_ADMIN) {
		memset(ret, 0, sizeof(*ret));
		return 0;
	}
	r = store_get("users", a.user_id, NULL, false, &u);
	if (r < 0)
		return r == -ENOENT ? -EACCES : -ENOTCONN;
	rfa_principal_of(u, ret);
	json_decref(u);
	return 0;
}

static int from_basic(const char *h, const char *addr, struct rf_principal *ret)
{
	unsigned char digest[crypto_generichash_BYTES];
	char buf[BASIC_MAX + 1], *colon;
	json_t *acct = NULL, *u = NULL;
	uint64_t epoch;
	int64_t checked;
	size_t len = 0;
	int r;

	while (*h == ' ')
		h++;
	if (sodium_base642bin((unsigned char *)buf, BASIC_MAX, h, strlen(h), NULL, &len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EACCES;
	buf[len] = '\0';
	colon = strchr(buf, ':');
	if (!colon || strlen(buf) != len || colon == buf || colon - buf >= LOGIN_MAX) {
		sodium_memzero(buf, sizeof(buf));
		return -EACCES;
	}
	*colon = '\0';
	basic_digest(buf, colon + 1, digest);
	if (basic_get(digest, ret)) {
		sodium_memzero(buf, sizeof(buf));
		return 0;
	}
	/* Read before the check: a revocation from now on makes it stale. */
	epoch = auth_cache_epoch();
	checked = mono_ms();
	r = rfa_check_password(buf, colon + 1, addr, &acct, &u);
	sodium_memzero(buf, sizeof(buf));
	if (r < 0)
		return -EACCES;
	rfa_principal_of(u, ret);
	basic_put(digest, ret, epoch, checked);
	json_decref(acct);
	json_decref(u);
	return 0;
}

int rfa_authenticate(rf_header_fn header, void *cls, const char *addr, struct rf_principal *ret)
{
	const char *tok = header(cls, "X-Auth-Token");
	const char *h = header(cls, "Authorization");

	if (!str_empty(tok))
		return from_token(tok, ret);
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		return from_token(h, ret);
	}
	if (h && strncasecmp(h, "Basic ", 6) == 0)
		return from_basic(h + 6, addr ? addr : "unknown", ret);
	return h ? -EACCES : -ENOENT;
}
