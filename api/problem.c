/* problem.c — RFC 9457 problem details: every error mcloud-api answers is
 * one of these, with a stable machine-readable code beside the text. */
#include <string.h>

#include "api/core.h"
#include "common/json.h"

const char *mc_api_status_title(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Server Error" : "Client Error";
    }
}

json_t *mc_api_problem(int status, const char *code, const char *detail) {
    char type[128];
    snprintf(type, sizeof type, "%s%s", MC_API_PROBLEM_BASE, code);
    json_t *p = json_object();
    if (!p) return NULL;
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(mc_api_status_title(status)));
    json_object_set_new(p, "status", json_integer(status));
    json_object_set_new(p, "detail", mc_json_string_lossy(detail, strlen(detail)));
    json_object_set_new(p, "code", json_string(code));
    return p;
}
