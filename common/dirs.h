/* dirs.h — directories made on the way to a path (mkdir -p), for the
 * daemons that write local files: the transcoder's output tree and the
 * stream's disk cache. */
#ifndef MCLOUD_DIRS_H
#define MCLOUD_DIRS_H

#include "common/error.h"

/* Creates every missing directory named before a '/' in path: "a/b/" makes
 * a and a/b, "a/b/f.mp4" makes a and a/b (not the file). Mode 0755. */
int mc_mkdir_parents(const char *path, mc_err *err);

#endif
