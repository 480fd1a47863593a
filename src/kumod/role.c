/* SPDX-License-Identifier: MIT */
/*
 * Role names (see role.h). Only the four user roles parse: "none" and
 * "agent" are internal markers of routes, never something a user or an
 * API body may claim.
 */
#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "kumod/role.h"

static const struct {
	int role;
	const char *name;
	bool parses; /* may come from a request body */
} roles[] = {
	{ ROLE_NONE, "none", false },    { ROLE_VIEWER, "viewer", true },
	{ ROLE_MEMBER, "member", true }, { ROLE_OWNER, "owner", true },
	{ ROLE_ADMIN, "admin", true },   { ROLE_AGENT, "agent", false },
};

const char *role_name(int role)
{
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "invalid";
}

int role_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (roles[i].parses && strcmp(s, roles[i].name) == 0)
			return roles[i].role;
	return -EINVAL;
}
