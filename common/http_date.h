/* http_date.h — HTTP-dates (RFC 9110 §5.6.7): IMF-fixdate on output, and
 * on input also the obsolete RFC 850 and asctime forms, strictly. */
#ifndef MCLOUD_HTTP_DATE_H
#define MCLOUD_HTTP_DATE_H

#include <time.h>

#define MC_HTTP_DATE_LEN 30 /* "Sun, 06 Nov 1994 08:49:37 GMT" + NUL */

/* 0 and *out set, or -1 for anything that is not an HTTP-date. */
int mc_http_date_parse(const char *s, time_t *out);
/* Years 0000..9999; outside them (no HTTP-date spells them) the epoch is written. */
void mc_http_date_format(time_t t, char out[MC_HTTP_DATE_LEN]);

#endif
