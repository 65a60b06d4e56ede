/* textbuf.c — a growing printf buffer (see textbuf.h). */
#include "common/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void mc_textbuf_printf(mc_textbuf *tb, const char *fmt, ...) {
    if (tb->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tb->data ? tb->data + tb->len : NULL, tb->data ? tb->cap - tb->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            tb->failed = true;
            return;
        }
        if (tb->data && (size_t)n < tb->cap - tb->len) {
            tb->len += (size_t)n;
            return;
        }
        size_t cap = tb->cap * 2 + (size_t)n + 1024;
        char *grown = realloc(tb->data, cap);
        if (!grown) {
            tb->failed = true;
            return;
        }
        tb->data = grown;
        tb->cap = cap;
    }
}

char *mc_textbuf_finish(mc_textbuf *tb) {
    if (tb->failed) {
        free(tb->data);
        tb->data = NULL;
        return NULL;
    }
    return tb->data ? tb->data : calloc(1, 1);
}
