/* SPDX-License-Identifier: MIT */
/*
 * Redfish accounts, roles and sessions (the AccountService and the
 * SessionService's data; the resources themselves are the agent's
 * rf_account.c and rf_session.c).
 *
 * Accounts live in DIR/accounts.json (mode 0600): user name, RoleId,
 * enabled, and an Argon2id hash of the password (libsodium). At first
 * start an "admin" Administrator is made with a random password written to
 * DIR/admin-password (0600). Roles are the three predefined ones with the
 * standard privileges:
 *   Administrator  Login ConfigureManager ConfigureUsers ConfigureComponents ConfigureSelf
 *   Operator       Login ConfigureComponents ConfigureSelf
 *   ReadOnly       Login ConfigureSelf
 *
 * Sessions: the token ("X-Auth-Token") is random and only its SHA-256 is
 * kept, in memory and in DIR/sessions.json (0600), so that sessions outlive
 * a restart; a session ends on DELETE, after SessionTimeout seconds without
 * use, or when its account is removed, disabled or gets a new password
 * (also across a restart). The file is written when a session is made or
 * ends by DELETE or by its account, and when a session's last use is
 * RF_SESSION_TOUCH_MS (or a quarter of SessionTimeout, if shorter) ahead of
 * the file's: after a restart a session may end that much early.
 *
 * Guessing is slowed down: AccountLockoutThreshold failed logins in a row
 * lock an account for AccountLockoutDuration seconds (Locked: true; the
 * right password is refused too), and an address with RF_ADDR_FAILURES_MAX
 * failures within a minute is refused until the minute is over. Argon2id
 * is slow on purpose (tens of ms), so a Basic-auth success is remembered
 * for RF_BASIC_CACHE_MS under a keyed hash of user and password (never
 * the password): a client sending Basic credentials with every request
 * pays for one hash. Any change to accounts forgets them all.
 *
 * All functions are thread-safe.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/redfish.h"

#define RF_ACCOUNTS_FILE "accounts.json"
#define RF_ADMIN_PASSWORD_FILE "admin-password"
#define RF_SESSIONS_FILE "sessions.json"
#define RF_ADMIN_USER "admin"
#define RF_ACCOUNTS_MAX 64
#define RF_SESSIONS_MAX 64
#define RF_USER_MAX 32 /* user names: 1..32 of [A-Za-z0-9._-] */
#define RF_PASSWORD_MIN 8
#define RF_PASSWORD_MAX 64
#define RF_SESSION_TIMEOUT_MIN 30
#define RF_SESSION_TIMEOUT_MAX 86400
#define RF_SESSION_TIMEOUT_DEFAULT 1800
#define RF_ADDR_FAILURES_MAX 20
#define RF_BASIC_CACHE_MS 30000
#define RF_SESSION_TOUCH_MS 60000 /* how far the file's last use may lag */

struct rf_role {
	const char *id; /* "Administrator" */
	unsigned privs; /* RF_PRIV_* */
	const char *description;
};

/* The predefined roles; ends with { NULL }. */
extern const struct rf_role rf_roles[];
const struct rf_role *rf_role_find(const char *id);
/* ["Login", "ConfigureSelf", ...] for privs. New reference. */
json_t *rf_privs_json(unsigned privs);

struct rf_auth_config {
	const char *dir;       /* DATA/redfish; made 0700 if missing */
	int session_timeout_s; /* until an account file says otherwise; 0 = default */
};

/* The account policy, shown and changed through AccountService. */
struct rf_account_policy {
	int lockout_threshold;  /* AccountLockoutThreshold; 0 = never lock */
	int lockout_duration_s; /* AccountLockoutDuration */
	int lockout_reset_s;    /* AccountLockoutCounterResetAfter */
};

struct rf_auth;

/* Loads DIR/accounts.json, or makes it with the admin account (and
 * DIR/admin-password) when it does not exist. 0 or a negative errno
 * (-EINVAL: the file is not a valid account file). */
int rf_auth_open(const struct rf_auth_config *cfg, struct rf_auth **ret);
struct rf_auth *rf_auth_free(struct rf_auth *a);
/* Did rf_auth_open() make the admin account (a first start)? */
bool rf_auth_bootstrapped(const struct rf_auth *a);
/* What rf_auth_open() made of DIR/sessions.json: the number of sessions
 * that came back and, in *ret_dropped, of those that did not (idle past
 * SessionTimeout, account gone, disabled or with a new password); or a
 * negative errno: the file was ignored (-EINVAL: not a session file). */
int rf_auth_sessions_restored(const struct rf_auth *a, int *ret_dropped);

/* ---- credentials ---- */

/* HTTP Basic: 0 and *ret_who; -EACCES (unknown user, wrong password,
 * disabled or locked account) or -EAGAIN (the address is over its limit). */
int rf_auth_basic(struct rf_auth *a, const char *user, const char *password, const char *addr,
                  struct rf_principal *ret_who);
/* X-Auth-Token: 0 and *ret_who (the session's account as it is now), or
 * -EACCES. Refreshes the session's idle timer. */
int rf_auth_token(struct rf_auth *a, const char *token, struct rf_principal *ret_who);

/* ---- sessions ---- */

/* Logs in: 0, *ret_token (malloc'd, shown once) and ret_id; -EACCES,
 * -EAGAIN (as rf_auth_basic), -ENOSPC (RF_SESSIONS_MAX), or another
 * negative errno (the session file cannot be written: no session). */
int rf_session_create(struct rf_auth *a, const char *user, const char *password, const char *addr,
                      char **ret_token, char ret_id[RF_NAME_MAX]);
/* 0, -ENOENT, or another negative errno (the session file cannot be
 * written: the session goes on). */
int rf_session_delete(struct rf_auth *a, const char *id);
/* The ids of the live sessions, oldest first. New reference. */
json_t *rf_session_ids(struct rf_auth *a);
/* {"id", "user", "account_id", "addr", "created_ms", "last_ms"}: 0 and a
 * new reference, or -ENOENT. */
int rf_session_get(struct rf_auth *a, const char *id, json_t **ret);
int rf_session_timeout(struct rf_auth *a);
/* 0, or -EINVAL out of [RF_SESSION_TIMEOUT_MIN, RF_SESSION_TIMEOUT_MAX]. Saved. */
int rf_session_set_timeout(struct rf_auth *a, int seconds);

/* ---- accounts ---- */

/* The account ids, in creation order. New reference. */
json_t *rf_account_ids(struct rf_auth *a);
/* {"id", "user", "role", "enabled", "locked"}: 0 and a new reference, or -ENOENT. */
int rf_account_get(struct rf_auth *a, const char *id, json_t **ret);
/* The id of the account with that user name, into ret_id: 0 or -ENOENT. */
int rf_account_find(struct rf_auth *a, const char *user, char ret_id[RF_NAME_MAX]);
/* A new account: 0 and ret_id; -EEXIST (user name taken), -EINVAL (bad
 * name, password length or role: e says which), -ENOSPC (RF_ACCOUNTS_MAX). */
int rf_account_create(struct rf_auth *a, const char *user, const char *password, const char *role,
                      bool enabled, char ret_id[RF_NAME_MAX], struct kerr *e);
/* Changes an account: changes holds any of "UserName", "Password",
 * "RoleId", "Enabled", "Locked" (only false: unlocks). 0, -ENOENT,
 * -EEXIST (user name taken), -EINVAL (e says which), -EBUSY (it would
 * leave no enabled Administrator). A new password ends the account's
 * other sessions (all but keep_session, which may be NULL); disabling it
 * ends all. */
int rf_account_update(struct rf_auth *a, const char *id, const json_t *changes,
                      const char *keep_session, struct kerr *e);
/* 0, -ENOENT, or -EBUSY (the last enabled Administrator). Ends its sessions. */
int rf_account_delete(struct rf_auth *a, const char *id);

void rf_auth_policy(struct rf_auth *a, struct rf_account_policy *ret);
/* 0 or -EINVAL (negative values, or a reset time over the duration). Saved. */
int rf_auth_set_policy(struct rf_auth *a, const struct rf_account_policy *p);
