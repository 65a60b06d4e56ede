/* textbuf.h — a growing text buffer filled printf-style, for rendering a
 * document in pieces (the metrics page, a spec's canonical YAML and diff).
 * A failed allocation is remembered and reported once, at the end. */
#ifndef MCLOUD_TEXTBUF_H
#define MCLOUD_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mc_textbuf {
    char *data;    /* NUL-terminated once anything was written */
    size_t len, cap;
    bool failed;
} mc_textbuf;      /* start from {0} */

void mc_textbuf_printf(mc_textbuf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (malloc'd; "" when nothing was written), or NULL (and the
 * buffer freed) after a failure. */
char *mc_textbuf_finish(mc_textbuf *tb);

#endif
