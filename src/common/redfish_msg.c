// SPDX-License-Identifier: MIT
/*
 * Redfish messages: the Base registry's messages as a C table (each entry
 * copied from ../shared/redfish/registries/Base.1.22.1.json; the unit test
 * compares every field with that file), the registry list other modules
 * add to, and the builder of Message objects. Not here: which message an
 * error gets (redfish.c and the resources decide).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "common/buf.h"
#include "common/redfish_msg.h"
#include "common/util.h"

#define REGISTRIES_MAX 32
#define MSG_ARGS_MAX 9
#define MSG_TEXT_MAX 4096

static const struct rf_message base_messages[RF_MSG_COUNT] = {
	[RF_MSG_SUCCESS] = { "Success", "The request completed successfully.", "OK", 0, "None." },
	[RF_MSG_GENERAL_ERROR] = { "GeneralError",
	                           "A general error has occurred.  See Resolution for information "
	                           "on how to resolve the error, or @Message.ExtendedInfo if "
	                           "Resolution is not provided.",
	                           "Critical", 0, "None." },
	[RF_MSG_CREATED] = { "Created", "The resource was created successfully.", "OK", 0,
	                     "None." },
	[RF_MSG_NO_OPERATION] = { "NoOperation",
	                          "The request body submitted contain no data to act upon and no "
	                          "changes to the resource took place.",
	                          "Warning", 0,
	                          "Add properties in the JSON object and resubmit the request." },
	[RF_MSG_PROPERTY_DUPLICATE] = { "PropertyDuplicate",
	                                "The property %1 was duplicated in the request.", "Warning",
	                                1,
	                                "Remove the duplicate property from the request body and "
	                                "resubmit the request if the operation failed." },
	[RF_MSG_PROPERTY_UNKNOWN] = { "PropertyUnknown",
	                              "The property %1 is not in the list of valid properties for "
	                              "the resource.",
	                              "Warning", 1,
	                              "Remove the unknown property from the request body and "
	                              "resubmit the request if the operation failed." },
	[RF_MSG_PROPERTY_VALUE_TYPE_ERROR] = { "PropertyValueTypeError",
	                                       "The value '%1' for the property %2 is not a type "
	                                       "that the property can accept.",
	                                       "Warning", 2,
	                                       "Correct the value for the property in the request "
	                                       "body and resubmit the request if the operation "
	                                       "failed." },
	[RF_MSG_PROPERTY_VALUE_FORMAT_ERROR] = { "PropertyValueFormatError",
	                                         "The value '%1' for the property %2 is not a "
	                                         "format that the property can accept.",
	                                         "Warning", 2,
	                                         "Correct the value for the property in the "
	                                         "request body and resubmit the request if the "
	                                         "operation failed." },
	[RF_MSG_PROPERTY_VALUE_NOT_IN_LIST] = { "PropertyValueNotInList",
	                                        "The value '%1' for the property %2 is not in the "
	                                        "list of acceptable values.",
	                                        "Warning", 2,
	                                        "Choose a value from the enumeration list that the "
	                                        "implementation can support and resubmit the "
	                                        "request if the operation failed." },
	[RF_MSG_PROPERTY_VALUE_OUT_OF_RANGE] = { "PropertyValueOutOfRange",
	                                         "The value '%1' for the property %2 is not in the "
	                                         "supported range of acceptable values.",
	                                         "Warning", 2,
	                                         "Correct the value for the property in the "
	                                         "request body and resubmit the request if the "
	                                         "operation failed." },
	[RF_MSG_PROPERTY_VALUE_ERROR] = { "PropertyValueError",
	                                  "The value provided for the property %1 is not valid.",
	                                  "Warning", 1,
	                                  "Correct the value for the property in the request body "
	                                  "and resubmit the request if the operation failed." },
	[RF_MSG_PROPERTY_NOT_WRITABLE] = { "PropertyNotWritable",
	                                   "The property %1 is a read-only property and cannot be "
	                                   "assigned a value.",
	                                   "Warning", 1,
	                                   "Remove the property from the request body and resubmit "
	                                   "the request if the operation failed." },
	[RF_MSG_PROPERTY_NOT_UPDATED] = { "PropertyNotUpdated",
	                                  "The property %1 was not updated due to an internal "
	                                  "service error.  The service is still operational.",
	                                  "Critical", 1,
	                                  "Resubmit the request.  If the problem persists, check "
	                                  "for additional messages and consider resetting the "
	                                  "service." },
	[RF_MSG_PROPERTY_MISSING] = { "PropertyMissing",
	                              "The property %1 is a required property and must be included "
	                              "in the request.",
	                              "Warning", 1,
	                              "Ensure that the property is in the request body and has a "
	                              "valid value and resubmit the request if the operation "
	                              "failed." },
	[RF_MSG_MALFORMED_JSON] = { "MalformedJSON",
	                            "The request body submitted was malformed JSON and could not "
	                            "be parsed by the receiving service.",
	                            "Critical", 0,
	                            "Ensure that the request body is valid JSON and resubmit the "
	                            "request." },
	[RF_MSG_EMPTY_JSON] = { "EmptyJSON",
	                        "The request body submitted contained an empty JSON object and the "
	                        "service is unable to process it.",
	                        "Warning", 0,
	                        "Add properties in the JSON object and resubmit the request." },
	[RF_MSG_UNRECOGNIZED_REQUEST_BODY] = { "UnrecognizedRequestBody",
	                                       "The service detected a malformed request body that "
	                                       "it was unable to interpret.",
	                                       "Warning", 0,
	                                       "Correct the request body and resubmit the request "
	                                       "if it failed." },
	[RF_MSG_ACTION_NOT_SUPPORTED] = { "ActionNotSupported",
	                                  "The action %1 is not supported by the resource.",
	                                  "Critical", 1,
	                                  "Check the Actions property in the resource for the "
	                                  "supported actions." },
	[RF_MSG_ACTION_PARAMETER_MISSING] = { "ActionParameterMissing",
	                                      "The action %1 requires the parameter %2 to be "
	                                      "present in the request body.",
	                                      "Critical", 2,
	                                      "Supply the action with the required parameter in "
	                                      "the request body when the request is resubmitted." },
	[RF_MSG_ACTION_PARAMETER_DUPLICATE] = { "ActionParameterDuplicate",
	                                        "The action %1 was submitted with more than one "
	                                        "value for the parameter %2.",
	                                        "Warning", 2,
	                                        "Resubmit the action with only one instance of the "
	                                        "action parameter in the request body if the "
	                                        "operation failed." },
	[RF_MSG_ACTION_PARAMETER_UNKNOWN] = { "ActionParameterUnknown",
	                                      "The action %1 was submitted with the invalid "
	                                      "parameter %2.",
	                                      "Warning", 2,
	                                      "Correct the invalid action parameter and resubmit "
	                                      "the request if the operation failed." },
	[RF_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR] = { "ActionParameterValueTypeError",
	                                               "The value '%1' for the parameter %2 in the "
	                                               "action %3 is not a type that the parameter "
	                                               "can accept.",
	                                               "Warning", 3,
	                                               "Correct the value for the parameter in the "
	                                               "request body and resubmit the request if "
	                                               "the operation failed." },
	[RF_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR] = { "ActionParameterValueFormatError",
	                                                 "The value '%1' for the parameter %2 in "
	                                                 "the action %3 is not a format that the "
	                                                 "parameter can accept.",
	                                                 "Warning", 3,
	                                                 "Correct the value for the parameter in "
	                                                 "the request body and resubmit the "
	                                                 "request if the operation failed." },
	[RF_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST] = { "ActionParameterValueNotInList",
	                                                "The value '%1' for the parameter %2 in "
	                                                "the action %3 is not in the list of "
	                                                "acceptable values.",
	                                                "Warning", 3,
	                                                "Choose a value from the enumeration list "
	                                                "that the implementation can support and "
	                                                "resubmit the request if the operation "
	                                                "failed." },
	[RF_MSG_ACTION_PARAMETER_VALUE_OUT_OF_RANGE] = { "ActionParameterValueOutOfRange",
	                                                 "The value '%1' for the parameter %2 in "
	                                                 "the action %3 is not in the supported "
	                                                 "range of acceptable values.",
	                                                 "Warning", 3,
	                                                 "Correct the value for the parameter in "
	                                                 "the request body and resubmit the "
	                                                 "request if the operation failed." },
	[RF_MSG_ACTION_PARAMETER_VALUE_ERROR] = { "ActionParameterValueError",
	                                          "The value for the parameter %1 in the action %2 "
	                                          "is invalid.",
	                                          "Warning", 2,
	                                          "Correct the value for the parameter in the "
	                                          "request body and resubmit the request if the "
	                                          "operation failed." },
	[RF_MSG_ACTION_PARAMETER_NOT_SUPPORTED] = { "ActionParameterNotSupported",
	                                            "The parameter %1 for the action %2 is not "
	                                            "supported on the target resource.",
	                                            "Warning", 2,
	                                            "Remove the parameter supplied and resubmit "
	                                            "the request if the operation failed." },
	[RF_MSG_ACTION_PARAMETER_VALUE_CONFLICT] = { "ActionParameterValueConflict",
	                                             "The parameter '%1' with the requested value "
	                                             "of '%2' does not meet the constraints of the "
	                                             "implementation.",
	                                             "Warning", 2, "None." },
	[RF_MSG_ARRAY_SIZE_TOO_LONG] = { "ArraySizeTooLong",
	                                 "The array provided for property %1 exceeds the size "
	                                 "limit %2.",
	                                 "Warning", 2,
	                                 "Resubmit the request with an appropriate array size." },
	[RF_MSG_ARRAY_SIZE_TOO_SHORT] = { "ArraySizeTooShort",
	                                  "The array provided for property %1 is under the minimum "
	                                  "size limit %2.",
	                                  "Warning", 2,
	                                  "Resubmit the request with an appropriate array size." },
	[RF_MSG_QUERY_PARAMETER_VALUE_TYPE_ERROR] = { "QueryParameterValueTypeError",
	                                              "The value '%1' for the query parameter %2 "
	                                              "is not a type that the parameter can "
	                                              "accept.",
	                                              "Warning", 2,
	                                              "Correct the value for the query parameter "
	                                              "in the request and resubmit the request if "
	                                              "the operation failed." },
	[RF_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR] = { "QueryParameterValueFormatError",
	                                                "The value '%1' for the parameter %2 is "
	                                                "not a format that the parameter can "
	                                                "accept.",
	                                                "Warning", 2,
	                                                "Correct the value for the query parameter "
	                                                "in the request and resubmit the request "
	                                                "if the operation failed." },
	[RF_MSG_QUERY_PARAMETER_VALUE_ERROR] = { "QueryParameterValueError",
	                                         "The value for the parameter %1 is invalid.",
	                                         "Warning", 1,
	                                         "Correct the value for the query parameter in the "
	                                         "request and resubmit the request if the "
	                                         "operation failed." },
	[RF_MSG_QUERY_PARAMETER_OUT_OF_RANGE] = { "QueryParameterOutOfRange",
	                                          "The value '%1' for the query parameter %2 is "
	                                          "out of range %3.",
	                                          "Warning", 3,
	                                          "Reduce the value for the query parameter to a "
	                                          "value that is within range, such as a start or "
	                                          "count value that is within bounds of the number "
	                                          "of resources in a collection or a page number "
	                                          "that is within the range of valid pages." },
	[RF_MSG_QUERY_NOT_SUPPORTED_ON_RESOURCE] = { "QueryNotSupportedOnResource",
	                                             "Querying is not supported on the requested "
	                                             "resource.",
	                                             "Warning", 0,
	                                             "Remove the query parameters and resubmit the "
	                                             "request if the operation failed." },
	[RF_MSG_QUERY_NOT_SUPPORTED_ON_OPERATION] = { "QueryNotSupportedOnOperation",
	                                              "Querying is not supported with the "
	                                              "requested operation.",
	                                              "Warning", 0,
	                                              "Remove the query parameters and resubmit "
	                                              "the request if the operation failed." },
	[RF_MSG_QUERY_NOT_SUPPORTED] = { "QueryNotSupported",
	                                 "Querying is not supported by the implementation.",
	                                 "Warning", 0,
	                                 "Remove the query parameters and resubmit the request if "
	                                 "the operation failed." },
	[RF_MSG_QUERY_COMBINATION_INVALID] = { "QueryCombinationInvalid",
	                                       "Two or more query parameters in the request cannot "
	                                       "be used together.",
	                                       "Warning", 0,
	                                       "Remove one or more of the query parameters and "
	                                       "resubmit the request if the operation failed." },
	[RF_MSG_QUERY_PARAMETER_UNSUPPORTED] = { "QueryParameterUnsupported",
	                                         "Query parameter '%1' is not supported.",
	                                         "Warning", 1,
	                                         "Correct or remove the query parameter and "
	                                         "resubmit the request." },
	[RF_MSG_SESSION_LIMIT_EXCEEDED] = { "SessionLimitExceeded",
	                                    "The session establishment failed due to the number of "
	                                    "simultaneous sessions exceeding the limit of the "
	                                    "implementation.",
	                                    "Critical", 0,
	                                    "Reduce the number of other sessions before trying to "
	                                    "establish the session or increase the limit of "
	                                    "simultaneous sessions, if supported." },
	[RF_MSG_EVENT_SUBSCRIPTION_LIMIT_EXCEEDED] = { "EventSubscriptionLimitExceeded",
	                                               "The event subscription failed due to the "
	                                               "number of simultaneous subscriptions "
	                                               "exceeding the limit of the implementation.",
	                                               "Critical", 0,
	                                               "Reduce the number of other subscriptions "
	                                               "before trying to establish the event "
	                                               "subscription or increase the limit of "
	                                               "simultaneous subscriptions, if "
	                                               "supported." },
	[RF_MSG_RESOURCE_CANNOT_BE_DELETED] = { "ResourceCannotBeDeleted",
	                                        "The delete request failed because the resource "
	                                        "requested cannot be deleted.",
	                                        "Critical", 0,
	                                        "Do not attempt to delete a non-deletable "
	                                        "resource." },
	[RF_MSG_RESOURCE_IN_USE] = { "ResourceInUse",
	                             "The change to the requested resource failed because the "
	                             "resource is in use or in transition.",
	                             "Warning", 0,
	                             "Remove the condition and resubmit the request if the "
	                             "operation failed." },
	[RF_MSG_RESOURCE_ALREADY_EXISTS] = { "ResourceAlreadyExists",
	                                     "The requested resource of type %1 with the property "
	                                     "%2 with the value '%3' already exists.",
	                                     "Critical", 3,
	                                     "Do not repeat the create operation as the resource "
	                                     "was already created." },
	[RF_MSG_RESOURCE_NOT_FOUND] = { "ResourceNotFound",
	                                "The requested resource of type %1 named '%2' was not "
	                                "found.",
	                                "Critical", 2,
	                                "Provide a valid resource identifier and resubmit the "
	                                "request." },
	[RF_MSG_PAYLOAD_TOO_LARGE] = { "PayloadTooLarge",
	                               "The supplied payload exceeds the maximum size supported by "
	                               "the service.",
	                               "Critical", 0,
	                               "Check that the supplied payload is correct and supported "
	                               "by this service." },
	[RF_MSG_INSUFFICIENT_STORAGE] = { "InsufficientStorage",
	                                  "Insufficient storage or memory available to complete "
	                                  "the request.",
	                                  "Critical", 0,
	                                  "Increase the free storage space available to the "
	                                  "service and resubmit the request." },
	[RF_MSG_INVALID_URI] = { "InvalidURI", "The URI %1 was not found.", "Critical", 1,
	                         "Provide a valid URI and resubmit the request." },
	[RF_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE] = { "CreateLimitReachedForResource",
	                                               "The create operation failed because the "
	                                               "resource has reached the limit of possible "
	                                               "resources.",
	                                               "Critical", 0,
	                                               "Either delete resources and resubmit the "
	                                               "request if the operation failed or do not "
	                                               "resubmit the request." },
	[RF_MSG_SERVICE_SHUTTING_DOWN] = { "ServiceShuttingDown",
	                                   "The operation failed because the service is shutting "
	                                   "down and can no longer take incoming requests.",
	                                   "Critical", 0,
	                                   "When the service becomes available, resubmit the "
	                                   "request if the operation failed." },
	[RF_MSG_SERVICE_IN_UNKNOWN_STATE] = { "ServiceInUnknownState",
	                                      "The operation failed because the service is in an "
	                                      "unknown state and can no longer take incoming "
	                                      "requests.",
	                                      "Critical", 0,
	                                      "Restart the service and resubmit the request if the "
	                                      "operation failed." },
	[RF_MSG_NO_VALID_SESSION] = { "NoValidSession",
	                              "There is no valid session established with the "
	                              "implementation.",
	                              "Critical", 0,
	                              "Establish a session before attempting any operations." },
	[RF_MSG_INSUFFICIENT_PRIVILEGE] = { "InsufficientPrivilege",
	                                    "There are insufficient privileges for the account or "
	                                    "credentials associated with the current session to "
	                                    "perform the requested operation.",
	                                    "Critical", 0,
	                                    "Either abandon the operation or change the associated "
	                                    "access rights and resubmit the request if the "
	                                    "operation failed." },
	[RF_MSG_ACCOUNT_MODIFIED] = { "AccountModified", "The account was successfully modified.",
	                              "OK", 0, "None." },
	[RF_MSG_ACCOUNT_NOT_MODIFIED] = { "AccountNotModified",
	                                  "The account modification request failed.", "Warning", 0,
	                                  "The modification may have failed due to permission "
	                                  "issues or issues with the request body." },
	[RF_MSG_ACCOUNT_REMOVED] = { "AccountRemoved", "The account was successfully removed.",
	                             "OK", 0, "None." },
	[RF_MSG_ACCOUNT_FOR_SESSION_NO_LONGER_EXISTS] = { "AccountForSessionNoLongerExists",
	                                                  "The account for the current session was "
	                                                  "removed, and so the current session was "
	                                                  "removed as well.",
	                                                  "OK", 0,
	                                                  "Attempt to connect with a valid "
	                                                  "account." },
	[RF_MSG_INVALID_OBJECT] = { "InvalidObject", "The object at '%1' is invalid.", "Critical",
	                            1,
	                            "Either the object is malformed or the URI is not correct.  "
	                            "Correct the condition and resubmit the request if it "
	                            "failed." },
	[RF_MSG_INTERNAL_ERROR] = { "InternalError",
	                            "The request failed due to an internal service error.  The "
	                            "service is still operational.",
	                            "Critical", 0,
	                            "Resubmit the request.  If the problem persists, consider "
	                            "resetting the service." },
	[RF_MSG_RESOURCE_MISSING_AT_URI] = { "ResourceMissingAtURI",
	                                     "The resource at the URI '%1' was not found.",
	                                     "Critical", 1,
	                                     "Place a valid resource at the URI or correct the URI "
	                                     "and resubmit the request." },
	[RF_MSG_RESOURCE_AT_URI_UNAUTHORIZED] = { "ResourceAtUriUnauthorized",
	                                          "While accessing the resource at '%1', the "
	                                          "service received an authorization error '%2'.",
	                                          "Critical", 2,
	                                          "Ensure that the appropriate access is provided "
	                                          "for the service in order for it to access the "
	                                          "URI." },
	[RF_MSG_COULD_NOT_ESTABLISH_CONNECTION] = { "CouldNotEstablishConnection",
	                                            "The service failed to establish a connection "
	                                            "with the URI '%1'.",
	                                            "Critical", 1,
	                                            "Ensure that the URI contains a valid and "
	                                            "reachable node name, protocol information, "
	                                            "and other URI components." },
	[RF_MSG_ACCESS_DENIED] = { "AccessDenied",
	                           "While attempting to establish a connection to '%1', the "
	                           "service denied access.",
	                           "Critical", 1,
	                           "Attempt to ensure that the URI is correct and that the service "
	                           "has the appropriate credentials." },
	[RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE] = { "ServiceTemporarilyUnavailable",
	                                             "The service is temporarily unavailable.  "
	                                             "Retry in %1 seconds.",
	                                             "Critical", 1,
	                                             "Wait for the indicated retry duration and "
	                                             "retry the operation." },
	[RF_MSG_PROPERTY_VALUE_MODIFIED] = { "PropertyValueModified",
	                                     "The property %1 was assigned the value '%2' due to "
	                                     "modification by the service.",
	                                     "Warning", 2, "None." },
	[RF_MSG_RESOURCE_IN_STANDBY] = { "ResourceInStandby",
	                                 "The request could not be performed because the resource "
	                                 "is in standby.",
	                                 "Critical", 0,
	                                 "Ensure that the resource is in the correct power state "
	                                 "and resubmit the request." },
	[RF_MSG_RESOURCE_EXHAUSTION] = { "ResourceExhaustion",
	                                 "The resource '%1' was unable to satisfy the request due "
	                                 "to unavailability of resources.",
	                                 "Critical", 1,
	                                 "Ensure that the resources are available and resubmit the "
	                                 "request." },
	[RF_MSG_STRING_VALUE_TOO_LONG] = { "StringValueTooLong",
	                                   "The string '%1' exceeds the length limit %2.",
	                                   "Warning", 2,
	                                   "Resubmit the request with an appropriate string "
	                                   "length." },
	[RF_MSG_STRING_VALUE_TOO_SHORT] = { "StringValueTooShort",
	                                    "The string '%1' was under the minimum required length "
	                                    "%2.",
	                                    "Warning", 2,
	                                    "Resubmit the request with an appropriate string "
	                                    "length." },
	[RF_MSG_SESSION_TERMINATED] = { "SessionTerminated",
	                                "The session was successfully terminated.", "OK", 0,
	                                "None." },
	[RF_MSG_SUBSCRIPTION_TERMINATED] = { "SubscriptionTerminated",
	                                     "The event subscription was terminated.", "OK", 0,
	                                     "None." },
	[RF_MSG_RESOURCE_TYPE_INCOMPATIBLE] = { "ResourceTypeIncompatible",
	                                        "The @odata.type of the request body %1 is "
	                                        "incompatible with the @odata.type of the "
	                                        "resource, which is %2.",
	                                        "Critical", 2,
	                                        "Resubmit the request with a payload compatible "
	                                        "with the resource's schema." },
	[RF_MSG_PASSWORD_CHANGE_REQUIRED] = { "PasswordChangeRequired",
	                                      "The password provided for this account must be "
	                                      "changed before access is granted.  PATCH the "
	                                      "Password property for this account located at the "
	                                      "target URI '%1' to complete this process.",
	                                      "Critical", 1,
	                                      "Change the password for this account using a PATCH "
	                                      "to the Password property at the URI provided." },
	[RF_MSG_PASSWORD_INCORRECT_LENGTH] = { "PasswordIncorrectLength",
	                                       "The password provided for this account does not "
	                                       "meet the password length requirements of the "
	                                       "service.",
	                                       "Critical", 0,
	                                       "Resubmit the request with a password that meets "
	                                       "the password length requirements as specified by "
	                                       "the `MinPasswordLength` and `MaxPasswordLength` "
	                                       "properties in the `AccountService` resource." },
	[RF_MSG_RESET_REQUIRED] = { "ResetRequired",
	                            "In order to apply changes, recover from errors, or complete "
	                            "the operation, a component reset is required with the Reset "
	                            "action URI '%1' and ResetType '%2'.",
	                            "Warning", 2,
	                            "Perform the required reset action on the specified "
	                            "component." },
	[RF_MSG_RESET_RECOMMENDED] = { "ResetRecommended",
	                               "In order to recover from errors, a component reset is "
	                               "recommended with the Reset action URI '%1' and ResetType "
	                               "'%2'.",
	                               "Warning", 2,
	                               "Perform the recommended reset action on the specified "
	                               "component." },
	[RF_MSG_PROPERTY_VALUE_CONFLICT] = { "PropertyValueConflict",
	                                     "The property '%1' could not be written because its "
	                                     "value would conflict with the value of the '%2' "
	                                     "property.",
	                                     "Warning", 2, "None." },
	[RF_MSG_PROPERTY_VALUE_RESOURCE_CONFLICT] = { "PropertyValueResourceConflict",
	                                              "The property '%1' with the requested value "
	                                              "of '%2' could not be written because the "
	                                              "value conflicts with the state or "
	                                              "configuration of the resource at '%3'.",
	                                              "Warning", 3, "None." },
	[RF_MSG_PROPERTY_VALUE_INCORRECT] = { "PropertyValueIncorrect",
	                                      "The property '%1' with the requested value of '%2' "
	                                      "could not be written because the value is not "
	                                      "acceptable for the property.",
	                                      "Warning", 2, "None." },
	[RF_MSG_RESOURCE_CREATION_CONFLICT] = { "ResourceCreationConflict",
	                                        "The resource could not be created.  The service "
	                                        "has a resource at URI '%1' that conflicts with "
	                                        "the creation request.",
	                                        "Warning", 1, "None." },
	[RF_MSG_MAXIMUM_ERRORS_EXCEEDED] = { "MaximumErrorsExceeded",
	                                     "Too many errors have occurred to report them all.",
	                                     "Critical", 0,
	                                     "Resolve other reported errors and retry the current "
	                                     "operation." },
	[RF_MSG_PRECONDITION_FAILED] = { "PreconditionFailed",
	                                 "The ETag supplied did not match the ETag required to "
	                                 "change this resource.",
	                                 "Critical", 0,
	                                 "Try the operation again using the appropriate ETag." },
	[RF_MSG_PRECONDITION_REQUIRED] = { "PreconditionRequired",
	                                   "A precondition header or annotation is required to "
	                                   "change this resource.",
	                                   "Critical", 0,
	                                   "Try the operation again using an If-Match or "
	                                   "If-None-Match header and appropriate ETag." },
	[RF_MSG_HEADER_MISSING] = { "HeaderMissing",
	                            "Required header '%1' is missing in the request.", "Critical",
	                            1, "Resubmit the request with the required request header." },
	[RF_MSG_HEADER_INVALID] = { "HeaderInvalid", "Header '%1' is invalid.", "Critical", 1,
	                            "Resubmit the request with a valid request header." },
	[RF_MSG_OPERATION_FAILED] = { "OperationFailed",
	                              "An error occurred internal to the service as part of the "
	                              "overall request.  Partial results may have been returned.",
	                              "Warning", 0,
	                              "Resubmit the request.  If the problem persists, consider "
	                              "resetting the service or provider." },
	[RF_MSG_OPERATION_TIMEOUT] = { "OperationTimeout",
	                               "A timeout internal to the service occurred as part of the "
	                               "request.  Partial results may have been returned.",
	                               "Warning", 0,
	                               "Resubmit the request.  If the problem persists, consider "
	                               "resetting the service or provider." },
	[RF_MSG_OPERATION_NOT_ALLOWED] = { "OperationNotAllowed",
	                                   "The HTTP method is not allowed on this resource.",
	                                   "Critical", 0, "None." },
	[RF_MSG_UNDETERMINED_FAULT] = { "UndeterminedFault",
	                                "An undetermined fault condition was reported by '%1'.",
	                                "Critical", 1, "None." },
	[RF_MSG_CONDITION_IN_RELATED_RESOURCE] = { "ConditionInRelatedResource",
	                                           "One or more conditions exist in a related "
	                                           "resource.  See the OriginOfCondition property.",
	                                           "Warning", 0,
	                                           "Check the Conditions array in the resource "
	                                           "shown in the OriginOfCondition property to "
	                                           "determine the conditions that need "
	                                           "attention." },
	[RF_MSG_SERVICE_DISABLED] = { "ServiceDisabled",
	                              "The operation failed because the service at %1 is disabled "
	                              "and cannot accept requests.",
	                              "Warning", 1,
	                              "Enable the service and resubmit the request if the "
	                              "operation failed." },
	[RF_MSG_EVENT_BUFFER_EXCEEDED] = { "EventBufferExceeded",
	                                   "Undelivered events may have been lost due to exceeding "
	                                   "the event buffer.",
	                                   "Warning", 0, "None." },
	[RF_MSG_ACCESS_UNAUTHORIZED] = { "AccessUnauthorized", "Unauthorized.", "Critical", 0,
	                                 "Resubmit the request with valid credentials." },
	[RF_MSG_PROPERTY_MODIFIED] = { "PropertyModified",
	                               "One or more properties were successfully modified.", "OK",
	                               0, "None." },
};

const struct rf_registry rf_base_registry = { "Base.1.22.1", "Base", base_messages, RF_MSG_COUNT };

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct rf_registry *registries[REGISTRIES_MAX] = { &rf_base_registry };
static size_t nregistries = 1;

int rf_registry_add(const struct rf_registry *reg)
{
	int r = 0;

	assert(reg && reg->id && reg->prefix && (reg->messages || reg->n == 0));
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nregistries; i++)
		if (strcmp(registries[i]->prefix, reg->prefix) == 0) {
			r = registries[i] == reg ? 0 : -EEXIST;
			goto out;
		}
	if (nregistries >= REGISTRIES_MAX) {
		r = -ENOSPC;
		goto out;
	}
	registries[nregistries++] = reg;
out:
	pthread_mutex_unlock(&reg_lock);
	return r;
}

const struct rf_registry *rf_registry_find(const char *prefix)
{
	const struct rf_registry *found = NULL;

	if (!prefix)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nregistries && !found; i++)
		if (strcmp(registries[i]->prefix, prefix) == 0)
			found = registries[i];
	pthread_mutex_unlock(&reg_lock);
	return found;
}

const struct rf_message *rf_message_find(const struct rf_registry *reg, const char *key)
{
	if (!reg || !key)
		return NULL;
	for (size_t i = 0; i < reg->n; i++)
		if (reg->messages[i].key && strcmp(reg->messages[i].key, key) == 0)
			return &reg->messages[i];
	return NULL;
}

char *rf_msg_format(const char *tmpl, const char *const *args, int nargs)
{
	struct buf b;
	const char *p = tmpl;

	buf_init(&b, MSG_TEXT_MAX);
	while (*p) {
		const char *pct = strchr(p, '%');
		int i;

		if (!pct) {
			buf_puts(&b, p);
			break;
		}
		buf_append(&b, p, (size_t)(pct - p));
		i = pct[1] - '0';
		if (i >= 1 && i <= MSG_ARGS_MAX && i <= nargs && args[i - 1]) {
			buf_puts(&b, args[i - 1]);
			p = pct + 2;
		} else {
			buf_append(&b, pct, 1);
			p = pct + 1;
		}
	}
	return buf_steal(&b);
}

json_t *rf_msg_new(const struct rf_registry *reg, const struct rf_message *m,
                   const char *const *args, int nargs)
{
	json_t *msg, *jargs = json_array();
	char *id, *text;

	assert(reg && m);
	for (int i = 0; i < nargs; i++)
		json_array_append_new(jargs, json_string(args[i] ? args[i] : ""));
	id = xasprintf("%s.%s", reg->id, m->key);
	text = rf_msg_format(m->message, args, nargs);
	msg = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "@odata.type", RF_MESSAGE_TYPE,
	                "MessageId", id, "Message", text, "MessageArgs", jargs, "MessageSeverity",
	                m->severity, "Resolution", m->resolution);
	free(id);
	free(text);
	assert(msg);
	return msg;
}

json_t *rf_msg(enum rf_msg_id id, ...)
{
	const struct rf_message *m;
	const char *args[MSG_ARGS_MAX];
	int n = 0;
	va_list ap;

	assert(id >= 0 && id < RF_MSG_COUNT);
	m = &base_messages[id];
	va_start(ap, id);
	for (;;) {
		const char *a = va_arg(ap, const char *);

		if (!a)
			break;
		assert(n < MSG_ARGS_MAX);
		args[n++] = a;
	}
	va_end(ap);
	assert(n == m->nargs);
	return rf_msg_new(&rf_base_registry, m, args, n);
}

json_t *rf_msg_related(json_t *msg, const char *pointer)
{
	json_t *rel;

	if (!msg || !pointer)
		return msg;
	rel = json_object_get(msg, "RelatedProperties");
	if (!json_is_array(rel)) {
		rel = json_array();
		json_object_set_new(msg, "RelatedProperties", rel);
	}
	json_array_append_new(rel, json_string(pointer));
	return msg;
}
