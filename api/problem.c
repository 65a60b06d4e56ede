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
    return mc_json_problem(NULL, status, code, mc_api_status_title(status), detail);
}
