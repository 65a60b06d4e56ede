/* parts.h — the part plan of an upload's S3 multipart upload: how big its
 * parts are, so that no upload needs more parts than S3 allows. Pure
 * arithmetic, in mcloud_upload_core for the unit tests. */
#ifndef MCLOUD_UPLOAD_PARTS_H
#define MCLOUD_UPLOAD_PARTS_H

#include <stdint.h>

#define MC_UPLOAD_MAX_PARTS 10000        /* S3's limit per multipart upload */
#define MC_UPLOAD_PARTS_PLANNED 9000     /* what the plan aims at: room for slack */

/* max(min_part, ceil(length / MC_UPLOAD_PARTS_PLANNED)) rounded up to a MiB.
 * length <= 0 (unknown or empty) gives min_part rounded up. */
uint64_t mc_upload_part_size(uint64_t min_part, int64_t length);

#endif
