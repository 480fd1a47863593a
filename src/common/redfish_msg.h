/* SPDX-License-Identifier: MIT */
/*
 * Redfish messages (DSP0266 "Message" objects) from message registries:
 * the Base registry's messages that Kumo's Redfish services use, as a C
 * table (redfish_msg.c, checked against the registry file in
 * ../shared/redfish/registries by tests/unit/test_redfish.c), and other
 * registries (ResourceEvent, Environmental, ...) that modules add with
 * rf_registry_add() for their events.
 *
 * A message: {"@odata.type": "#Message.v1_3_0.Message", "MessageId":
 * "Base.1.22.1.PropertyUnknown", "Message": the template with its %1..
 * replaced, "MessageArgs": [...], "MessageSeverity", "Resolution"}.
 * MessageIds are the registry's Id ("Base.1.22.1") and the message key.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define RF_MESSAGE_TYPE "#Message.v1_3_0.Message"

struct rf_message {
	const char *key;        /* "PropertyUnknown" */
	const char *message;    /* the registry's Message, with %1, %2 ... */
	const char *severity;   /* the registry's MessageSeverity: OK, Warning, Critical */
	int nargs;              /* NumberOfArgs */
	const char *resolution; /* the registry's Resolution */
};

struct rf_registry {
	const char *id;     /* the registry's Id, "Base.1.22.1"; prefix of the MessageIds */
	const char *prefix; /* its RegistryPrefix, "Base" */
	const struct rf_message *messages; /* weak */
	size_t n;
};

/* The Base registry's messages used here, as indexes into rf_base_registry. */
enum rf_msg_id {
	RF_MSG_SUCCESS,
	RF_MSG_GENERAL_ERROR,
	RF_MSG_CREATED,
	RF_MSG_NO_OPERATION,
	RF_MSG_PROPERTY_DUPLICATE,
	RF_MSG_PROPERTY_UNKNOWN,
	RF_MSG_PROPERTY_VALUE_TYPE_ERROR,
	RF_MSG_PROPERTY_VALUE_FORMAT_ERROR,
	RF_MSG_PROPERTY_VALUE_NOT_IN_LIST,
	RF_MSG_PROPERTY_VALUE_OUT_OF_RANGE,
	RF_MSG_PROPERTY_VALUE_ERROR,
	RF_MSG_PROPERTY_NOT_WRITABLE,
	RF_MSG_PROPERTY_NOT_UPDATED,
	RF_MSG_PROPERTY_MISSING,
	RF_MSG_MALFORMED_JSON,
	RF_MSG_EMPTY_JSON,
	RF_MSG_UNRECOGNIZED_REQUEST_BODY,
	RF_MSG_ACTION_NOT_SUPPORTED,
	RF_MSG_ACTION_PARAMETER_MISSING,
	RF_MSG_ACTION_PARAMETER_DUPLICATE,
	RF_MSG_ACTION_PARAMETER_UNKNOWN,
	RF_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR,
	RF_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR,
	RF_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST,
	RF_MSG_ACTION_PARAMETER_VALUE_OUT_OF_RANGE,
	RF_MSG_ACTION_PARAMETER_VALUE_ERROR,
	RF_MSG_ACTION_PARAMETER_NOT_SUPPORTED,
	RF_MSG_ACTION_PARAMETER_VALUE_CONFLICT,
	RF_MSG_ARRAY_SIZE_TOO_LONG,
	RF_MSG_ARRAY_SIZE_TOO_SHORT,
	RF_MSG_QUERY_PARAMETER_VALUE_TYPE_ERROR,
	RF_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR,
	RF_MSG_QUERY_PARAMETER_VALUE_ERROR,
	RF_MSG_QUERY_PARAMETER_OUT_OF_RANGE,
	RF_MSG_QUERY_NOT_SUPPORTED_ON_RESOURCE,
	RF_MSG_QUERY_NOT_SUPPORTED_ON_OPERATION,
	RF_MSG_QUERY_NOT_SUPPORTED,
	RF_MSG_QUERY_COMBINATION_INVALID,
	RF_MSG_QUERY_PARAMETER_UNSUPPORTED,
	RF_MSG_SESSION_LIMIT_EXCEEDED,
	RF_MSG_EVENT_SUBSCRIPTION_LIMIT_EXCEEDED,
	RF_MSG_RESOURCE_CANNOT_BE_DELETED,
	RF_MSG_RESOURCE_IN_USE,
	RF_MSG_RESOURCE_ALREADY_EXISTS,
	RF_MSG_RESOURCE_NOT_FOUND,
	RF_MSG_PAYLOAD_TOO_LARGE,
	RF_MSG_INSUFFICIENT_STORAGE,
	RF_MSG_INVALID_URI,
	RF_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE,
	RF_MSG_SERVICE_SHUTTING_DOWN,
	RF_MSG_SERVICE_IN_UNKNOWN_STATE,
	RF_MSG_NO_VALID_SESSION,
	RF_MSG_INSUFFICIENT_PRIVILEGE,
	RF_MSG_ACCOUNT_MODIFIED,
	RF_MSG_ACCOUNT_NOT_MODIFIED,
	RF_MSG_ACCOUNT_REMOVED,
	RF_MSG_ACCOUNT_FOR_SESSION_NO_LONGER_EXISTS,
	RF_MSG_INVALID_OBJECT,
	RF_MSG_INTERNAL_ERROR,
	RF_MSG_RESOURCE_MISSING_AT_URI,
	RF_MSG_RESOURCE_AT_URI_UNAUTHORIZED,
	RF_MSG_COULD_NOT_ESTABLISH_CONNECTION,
	RF_MSG_ACCESS_DENIED,
	RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE,
	RF_MSG_PROPERTY_VALUE_MODIFIED,
	RF_MSG_RESOURCE_IN_STANDBY,
	RF_MSG_RESOURCE_EXHAUSTION,
	RF_MSG_STRING_VALUE_TOO_LONG,
	RF_MSG_STRING_VALUE_TOO_SHORT,
	RF_MSG_SESSION_TERMINATED,
	RF_MSG_SUBSCRIPTION_TERMINATED,
	RF_MSG_RESOURCE_TYPE_INCOMPATIBLE,
	RF_MSG_PASSWORD_CHANGE_REQUIRED,
	RF_MSG_PASSWORD_INCORRECT_LENGTH,
	RF_MSG_RESET_REQUIRED,
	RF_MSG_RESET_RECOMMENDED,
	RF_MSG_PROPERTY_VALUE_CONFLICT,
	RF_MSG_PROPERTY_VALUE_RESOURCE_CONFLICT,
	RF_MSG_PROPERTY_VALUE_INCORRECT,
	RF_MSG_RESOURCE_CREATION_CONFLICT,
	RF_MSG_MAXIMUM_ERRORS_EXCEEDED,
	RF_MSG_PRECONDITION_FAILED,
	RF_MSG_PRECONDITION_REQUIRED,
	RF_MSG_HEADER_MISSING,
	RF_MSG_HEADER_INVALID,
	RF_MSG_OPERATION_FAILED,
	RF_MSG_OPERATION_TIMEOUT,
	RF_MSG_OPERATION_NOT_ALLOWED,
	RF_MSG_UNDETERMINED_FAULT,
	RF_MSG_CONDITION_IN_RELATED_RESOURCE,
	RF_MSG_SERVICE_DISABLED,
	RF_MSG_EVENT_BUFFER_EXCEEDED,
	RF_MSG_ACCESS_UNAUTHORIZED,
	RF_MSG_PROPERTY_MODIFIED,
	RF_MSG_COUNT
};

extern const struct rf_registry rf_base_registry;

/* A Base message with its arguments: exactly the message's NumberOfArgs
 * strings, then NULL (a wrong count is a bug: assert). New reference. */
json_t *rf_msg(enum rf_msg_id id, ...) __attribute__((sentinel));
/* The same for any registry's message; args may be NULL when nargs is 0. */
json_t *rf_msg_new(const struct rf_registry *reg, const struct rf_message *m,
                   const char *const *args, int nargs);
/* Adds "RelatedProperties": [pointer] (a JSON pointer, "#/SessionTimeout")
 * to msg; returns msg. */
json_t *rf_msg_related(json_t *msg, const char *pointer);
/* The template with %1..%9 replaced by args (a missing one stays "%n").
 * malloc'd. */
char *rf_msg_format(const char *tmpl, const char *const *args, int nargs);

/* Registers another registry (kept by pointer: it must live as long as the
 * process). 0, -EEXIST (that prefix is there) or -ENOSPC. Thread-safe. */
int rf_registry_add(const struct rf_registry *reg);
/* The registry with that prefix ("Base" included), or NULL. */
const struct rf_registry *rf_registry_find(const char *prefix);
/* The message of reg with that key, or NULL. */
const struct rf_message *rf_message_find(const struct rf_registry *reg, const char *key);
