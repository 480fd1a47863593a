/* SPDX-License-Identifier: MIT */
/*
 * Authentication: passwords (Argon2id), session tokens, API keys, host
 * secrets for the agent channel, the failed-login limiter, and the auth
 * hook that the HTTP server calls before every handler.
 *
 * Tokens are random (libsodium), shown once, and stored only as SHA-256
 * hashes: sessions "kst_<64 hex>" (the session's id is the hash), API keys
 * "kak_<key id without dashes>_<64 hex>", host secrets "khs_<64 hex>".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/http.h"

struct auth;

/* Argon2id hash string of password (malloc'd), or NULL on failure. */
char *auth_hash_password(const char *password);
bool auth_check_password(const char *hash, const char *password);
/* Spends the time of a password check, for logins of unknown users, so that
 * timing does not tell which accounts and users exist. */
void auth_check_dummy(const char *password);

/* The HTTP server's hook (see http.h). Sessions and API keys it has checked
 * are kept in memory (bounded), so a known token costs no store read. */
int auth_hook(struct http_request *req, int min_role, struct kerr *e);
void auth_free(void *auth);
/* Forgets every cached session and API key, so the next request with each
 * reads the store again. Call it after any change that may revoke one is
 * committed: logout, API key deletion, a user's change or deletion, an
 * account's change or deletion. */
void auth_cache_invalidate(void);
/* For other front doors (the Redfish aggregator): checks a session token
 * or API key as the hook does (cache included): 0 and *ret, or -EACCES
 * (bad, expired or revoked) or -ENOTCONN (the store is busy) with e. */
int auth_token_check(const char *token, struct auth *ret, struct kerr *e);
/* Bumped by every auth_cache_invalidate(): a cache of credentials kept
 * elsewhere drops what it kept under an older value. */
uint64_t auth_cache_epoch(void);

/* Failed-login limiter: -EAGAIN when account or address is over the limit. */
int auth_login_allowed(const char *account, const char *addr);
void auth_login_failed(const char *account, const char *addr);
void auth_login_succeeded(const char *account, const char *addr);

/* First start: creates the admin account and user, writes
 * DATA/admin.password and DATA/join.token (0600), loads the join token hash. */
int auth_bootstrap(const char *data_dir);
/* Removes every session and API key of a user (inside the caller's
 * transaction); call auth_cache_invalidate() once that is committed. */
int auth_revoke_user(const char *user_id);
