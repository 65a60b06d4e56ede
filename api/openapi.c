/* openapi.c — api/openapi.yaml read with libyaml and served as JSON
 * (GET /v1/openapi.json). Plain scalars are typed as YAML 1.2's core
 * schema says (null, booleans, integers, floats); quoted ones are strings.
 * Anchors and aliases are refused: the document has none. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "api/api.h"
#include "common/json.h"

static json_t *scalar(const yaml_node_t *n) {
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_string(v);
    if (!strcmp(v, "null") || !strcmp(v, "~") || !*v) return json_null();
    if (!strcmp(v, "true")) return json_true();
    if (!strcmp(v, "false")) return json_false();
    char *end;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (*end == '\0' && errno == 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')))
        return json_integer(i);
    double d = strtod(v, &end);
    if (*end == '\0' && (v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')))
        return json_real(d);
    return json_string(v);
}

static json_t *convert(yaml_document_t *doc, yaml_node_t *n, int depth) {
    if (!n || depth > 64) return NULL;
    if (n->type == YAML_SCALAR_NODE) return scalar(n);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            json_t *v = convert(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!v) return json_decref(a), NULL;
            json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        json_t *v = convert(doc, yaml_document_get_node(doc, p->value), depth + 1);
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            json_decref(v);
            return json_decref(o), NULL;
        }
        json_object_set_new(o, (const char *)k->data.scalar.value, v);
    }
    return o;
}

int mc_api_openapi_load(const char *path, char **json, size_t *len, mc_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return mc_err_set(err, MC_ERR_INVALID, "cannot open %s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &doc);
    json_t *root = ok ? convert(&doc, yaml_document_get_root_node(&doc), 0) : NULL;
    if (ok) yaml_document_delete(&doc);
    int line = (int)parser.problem_mark.line + 1;
    yaml_parser_delete(&parser);
    fclose(f);
    if (!root) return mc_err_set(err, MC_ERR_INVALID, "%s: not a YAML document mcloud-api can "
                                 "serve (near line %d)", path, line);
    *json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!*json) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    *len = strlen(*json);
    return 0;
}
