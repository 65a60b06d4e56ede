/* queue.h — the bounded hand-off between the decoding thread and a rung's
 * encoding thread: decoded-and-scaled video frames and encoded audio packets
 * in presentation order, then an end marker. Its capacity is what keeps
 * memory bounded whatever the source length: the producer waits while a
 * rung is behind. How long each side waited is counted (full_wait_ns,
 * empty_wait_ns), so a run can tell whether its slowest rung held up the
 * decoder, and whether a rung ever starved for frames. */
#ifndef MCLOUD_TRANSCODE_QUEUE_H
#define MCLOUD_TRANSCODE_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/packet.h>
#include <libavutil/frame.h>

typedef enum mc_queue_kind {
    MC_QUEUE_FRAME,
    MC_QUEUE_PACKET,
    MC_QUEUE_END,      /* the producer finished: flush and finish */
    MC_QUEUE_CLOSED    /* the queue was closed: stop now */
} mc_queue_kind;

typedef struct mc_queue_item {
    mc_queue_kind kind;
    AVFrame *frame;    /* MC_QUEUE_FRAME: owned by whoever popped it */
    AVPacket *packet;  /* MC_QUEUE_PACKET: likewise */
} mc_queue_item;

typedef struct mc_queue {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    mc_queue_item *items;
    int capacity, head, count;
    bool ended, closed;
    /* Written by the producer under the lock: pushes that found the queue
     * full (counted before waiting), and the nanoseconds they waited for
     * room. Read them from the producer's thread, or under the lock. */
    uint64_t full_waits, full_wait_ns;
    /* Likewise by the consumer: pops that found the queue empty (before the
     * end) and how long they waited: the rung starved for input. */
    uint64_t empty_waits, empty_wait_ns;
} mc_queue;

int mc_queue_init(mc_queue *q, int capacity);
void mc_queue_destroy(mc_queue *q);  /* frees items still queued */
/* Moves the frame's (or packet's) reference into the queue, waiting for room.
 * Returns -1 (the reference stays with the caller) once the queue is closed. */
int mc_queue_push_frame(mc_queue *q, AVFrame *frame);
int mc_queue_push_packet(mc_queue *q, AVPacket *packet);
void mc_queue_end(mc_queue *q);
/* Waits for the next item; END after the last one; CLOSED once closed. */
mc_queue_item mc_queue_pop(mc_queue *q);
/* Wakes both sides for good: later pushes fail, pops return CLOSED. */
void mc_queue_close(mc_queue *q);

#endif
