/* fflog.h — libav* logging routed into mcloud's JSON-lines log, and the last
 * libav* error message of each thread kept for precise failure reasons
 * ("moov atom not found" says more than "Invalid data found"). */
#ifndef MCLOUD_TRANSCODE_FFLOG_H
#define MCLOUD_TRANSCODE_FFLOG_H

/* Installs the libav* log callback (once per process). */
void mc_fflog_install(void);
/* The last error-level libav* message logged by the calling thread, "" if none. */
const char *mc_fflog_last_error(void);
void mc_fflog_clear(void);

#endif
