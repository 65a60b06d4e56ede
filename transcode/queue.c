/* queue.c — bounded single-producer single-consumer queue of frames and
 * packets (see queue.h). A mutex and one condition variable: both sides wait
 * on "something changed", which is simple and cheap at frame rates. */
#include "transcode/queue.h"

#include <stdlib.h>
#include <time.h>

#include "common/clock.h"

int mc_queue_init(mc_queue *q, int capacity) {
    *q = (mc_queue){.capacity = capacity};
    q->items = calloc((size_t)capacity, sizeof *q->items);
    if (!q->items) return -1;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    return 0;
}

static void free_item(mc_queue_item *it) {
    av_frame_free(&it->frame);
    av_packet_free(&it->packet);
}

void mc_queue_destroy(mc_queue *q) {
    if (!q->items) return;
    for (int i = 0; i < q->count; i++) free_item(&q->items[(q->head + i) % q->capacity]);
    free(q->items);
    q->items = NULL;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->changed);
}

static int push(mc_queue *q, mc_queue_item item) {
    pthread_mutex_lock(&q->lock);
    if (q->count == q->capacity && !q->closed) {
        uint64_t t0 = mc_monotonic_ns();
        q->full_waits++;
        while (q->count == q->capacity && !q->closed) pthread_cond_wait(&q->changed, &q->lock);
        q->full_wait_ns += mc_monotonic_ns() - t0;
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    q->items[(q->head + q->count) % q->capacity] = item;
    q->count++;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int mc_queue_push_frame(mc_queue *q, AVFrame *frame) {
    AVFrame *moved = av_frame_alloc();
    if (!moved) return -1;
    av_frame_move_ref(moved, frame);
    if (push(q, (mc_queue_item){.kind = MC_QUEUE_FRAME, .frame = moved}) == 0) return 0;
    av_frame_move_ref(frame, moved);
    av_frame_free(&moved);
    return -1;
}

int mc_queue_push_packet(mc_queue *q, AVPacket *packet) {
    AVPacket *moved = av_packet_alloc();
    if (!moved) return -1;
    av_packet_move_ref(moved, packet);
    if (push(q, (mc_queue_item){.kind = MC_QUEUE_PACKET, .packet = moved}) == 0) return 0;
    av_packet_move_ref(packet, moved);
    av_packet_free(&moved);
    return -1;
}

void mc_queue_end(mc_queue *q) {
    if (!q->items) return;
    pthread_mutex_lock(&q->lock);
    q->ended = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

mc_queue_item mc_queue_pop(mc_queue *q) {
    mc_queue_item item = {.kind = MC_QUEUE_CLOSED};
    pthread_mutex_lock(&q->lock);
    if (q->count == 0 && !q->ended && !q->closed) {
        uint64_t t0 = mc_monotonic_ns();
        q->empty_waits++;
        while (q->count == 0 && !q->ended && !q->closed) pthread_cond_wait(&q->changed, &q->lock);
        q->empty_wait_ns += mc_monotonic_ns() - t0;
    }
    if (q->closed) {
        item.kind = MC_QUEUE_CLOSED;
    } else if (q->count > 0) {
        item = q->items[q->head];
        q->items[q->head] = (mc_queue_item){0};
        q->head = (q->head + 1) % q->capacity;
        q->count--;
        pthread_cond_broadcast(&q->changed);
    } else {
        item.kind = MC_QUEUE_END;
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

void mc_queue_close(mc_queue *q) {
    if (!q->items) return;
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}
