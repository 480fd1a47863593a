/* SPDX-License-Identifier: MIT */
/*
 * Roles, lowest to highest. A route's min_role is one of these; 0 means the
 * route needs no authentication. ROLE_AGENT marks routes of the agent
 * channel, authenticated with a host secret instead of a user.
 */
#pragma once

enum role {
	ROLE_NONE = 0,
	ROLE_VIEWER = 1,
	ROLE_MEMBER = 2,
	ROLE_OWNER = 3,
	ROLE_ADMIN = 4,
	ROLE_AGENT = 100,
};

const char *role_name(int role);
/* "viewer" -> ROLE_VIEWER ...; -EINVAL for anything else. */
int role_parse(const char *s);
