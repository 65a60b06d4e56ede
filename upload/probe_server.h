/* probe_server.h — the frames between mcloud-upload (probe.c) and the
 * long-lived probe server (`mcloud-probe --server`, probe_server.c), on one
 * Unix stream socket per probe slot. Both ends are built from this tree.
 *
 *   daemon -> server: uint32_t length, then the request text (probe.h)
 *   server -> daemon: mc_probe_answer, then answer.len bytes of the probe
 *                     child's stdout (the result of probe.h)
 */
#ifndef MCLOUD_UPLOAD_PROBE_SERVER_H
#define MCLOUD_UPLOAD_PROBE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mc_probe_answer {
    int32_t status;             /* the probe child's wait status */
    uint8_t timed_out;          /* killed at the probe's deadline */
    uint8_t too_large;          /* killed: its result exceeded MC_PROBE_RESULT_MAX */
    uint32_t len;               /* bytes of result that follow */
} mc_probe_answer;

/* The one-shot probe (probe_main.c): request on stdin, result on stdout;
 * returns the exit status. */
int mc_probe_once(void);
/* The server's main: argv = mcloud-probe --server MEMORY_MB CPU_S TIMEOUT_S SLOTS. */
int mc_probe_serve(int argc, char **argv);

#endif
