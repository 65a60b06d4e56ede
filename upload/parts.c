/* parts.c — the part plan (see parts.h). Every part but the last is
 * exactly the planned size, so a length L needs ceil(L / size) parts: at
 * most MC_UPLOAD_PARTS_PLANNED for the declared length, whatever the
 * client's PATCH sizes (sub-part remainders wait in the staged tail). */
#include "upload/parts.h"

#define MIB (1024ull * 1024)

uint64_t mc_upload_part_size(uint64_t min_part, int64_t length) {
    uint64_t size = min_part;
    uint64_t need = length > 0 ? ((uint64_t)length + MC_UPLOAD_PARTS_PLANNED - 1) /
                                     MC_UPLOAD_PARTS_PLANNED
                               : 0;
    if (need > size) size = need;
    return (size + MIB - 1) / MIB * MIB;
}
