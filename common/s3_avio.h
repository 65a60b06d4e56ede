/* s3_avio.h — an S3 object as a libavformat input, read through ranged GETs.
 *
 * The upload service probes a finished upload with it and the transcoder
 * reads sources with it, so neither downloads an object whole: every read of
 * libavformat's buffer (MC_S3_AVIO_BUFFER bytes) is one GET with a Range
 * header, and seeks only move the position. The S3 handle must stay with
 * the thread using the context and outlive it. */
#ifndef MCLOUD_S3_AVIO_H
#define MCLOUD_S3_AVIO_H

#include <libavformat/avio.h>
#include <stdint.h>

#include "common/error.h"
#include "common/s3.h"

#define MC_S3_AVIO_BUFFER (256 * 1024)

/* An AVIOContext reading key (size bytes) through s3; NULL with err on
 * failure. Release it with mc_s3_avio_close. */
AVIOContext *mc_s3_avio_open(mc_s3 *s3, const char *key, uint64_t size, mc_err *err);
/* The last S3 error a read met (kind MC_ERR_NONE if none). */
const mc_err *mc_s3_avio_error(AVIOContext *io);
void mc_s3_avio_close(AVIOContext **io);

#endif
