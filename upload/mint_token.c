/* mint_token.c — mcloud-token: prints a bearer token for a tenant.
 *
 * Signs with the key of settings token.key_id / token.secret (environment
 * MCLOUD_TOKEN_KEY_ID / MCLOUD_TOKEN_SECRET; defaults: "dev" and the
 * development secret of common/token.h). Stands in for the consumer API's
 * token endpoint until that exists. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/token.h"

#define DEFAULT_TTL_SECONDS 86400
#define MAX_TTL_SECONDS (100LL * 366 * 86400)

static void usage(FILE *out) {
    fprintf(out,
            "usage: mcloud-token --tenant ID [--ttl SECONDS] [--max-size BYTES] [--scope NAME]...\n"
            "Prints a bearer token for tenant ID, valid for SECONDS (default %d), signed with\n"
            "MCLOUD_TOKEN_SECRET under key id MCLOUD_TOKEN_KEY_ID (defaults: the development\n"
            "key \"" MC_TOKEN_DEV_KEY_ID "\" / \"" MC_TOKEN_DEV_SECRET "\").\n"
            "  --max-size BYTES  largest upload the token allows (default: no limit of its own)\n"
            "  --scope NAME      a scope the token grants; repeatable (default: upload)\n",
            DEFAULT_TTL_SECONDS);
}

static int parse_count(const char *flag, const char *text, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > max) {
        fprintf(stderr, "mcloud-token: %s needs an integer from 0 to %lld, got '%s'\n", flag, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Copies a name argument; mc_token_mint checks its characters. */
static int copy_name(const char *flag, const char *text, char out[MC_TOKEN_NAME_MAX + 1]) {
    if (strlen(text) > MC_TOKEN_NAME_MAX) {
        fprintf(stderr, "mcloud-token: %s is longer than %d characters\n", flag, MC_TOKEN_NAME_MAX);
        return -1;
    }
    strcpy(out, text);
    return 0;
}

static int parse_args(int argc, char **argv, mc_token_claims *claims, long long *ttl) {
    static const struct option options[] = {
        {"tenant", required_argument, NULL, 't'}, {"ttl", required_argument, NULL, 'e'},
        {"max-size", required_argument, NULL, 'm'}, {"scope", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    long long max_size = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 't':
            if (copy_name("--tenant", optarg, claims->tenant)) return -1;
            break;
        case 'e':
            if (parse_count("--ttl", optarg, MAX_TTL_SECONDS, ttl)) return -1;
            break;
        case 'm':
            if (parse_count("--max-size", optarg, INT64_MAX, &max_size)) return -1;
            break;
        case 's':
            if (claims->scope_count == MC_TOKEN_MAX_SCOPES) {
                fprintf(stderr, "mcloud-token: at most %d scopes\n", MC_TOKEN_MAX_SCOPES);
                return -1;
            }
            if (copy_name("--scope", optarg, claims->scopes[claims->scope_count++])) return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || !claims->tenant[0]) {
        usage(stderr);
        return -1;
    }
    if (claims->scope_count == 0) strcpy(claims->scopes[claims->scope_count++], "upload");
    claims->max_upload_bytes = max_size;
    return 0;
}

int main(int argc, char **argv) {
    mc_token_claims claims = {0};
    long long ttl = DEFAULT_TTL_SECONDS;
    if (parse_args(argc, argv, &claims, &ttl)) return 2;
    claims.exp = (int64_t)time(NULL) + ttl;

    mc_config *cfg = mc_config_load(NULL, NULL);
    if (!cfg) {
        fprintf(stderr, "mcloud-token: out of memory\n");
        return 1;
    }
    const char *secret = mc_config_get(cfg, "token.secret");
    mc_token_key key = {
        .id = mc_config_get(cfg, "token.key_id"),
        .secret = (const unsigned char *)secret,
        .secret_len = strlen(secret),
    };
    mc_err err = {0};
    char *token = NULL;
    int rc = mc_token_mint(&key, &claims, &token, &err);
    if (rc == 0) printf("%s\n", token);
    else fprintf(stderr, "mcloud-token: %s\n", err.msg);
    free(token);
    mc_config_free(cfg);
    return rc == 0 ? 0 : 1;
}
