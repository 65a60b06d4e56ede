/* The engine's bounded frame queue (transcode/queue.c): order, end and close,
 * and the counters of pushes that had to wait for room (the figure that
 * tells whether the slowest rung held up the decoder) and of pops that had
 * to wait for an item (whether a rung starved). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <cmocka.h>

#include "transcode/queue.h"

static void push_packet(mc_queue *q, int size) {
    AVPacket *p = av_packet_alloc();
    assert_non_null(p);
    assert_int_equal(av_new_packet(p, size), 0);
    assert_int_equal(mc_queue_push_packet(q, p), 0);
    av_packet_free(&p);
}

static int pop_size(mc_queue *q) {
    mc_queue_item it = mc_queue_pop(q);
    assert_int_equal(it.kind, MC_QUEUE_PACKET);
    int size = it.packet->size;
    av_packet_free(&it.packet);
    return size;
}

static void test_order_end_and_no_wait_while_room(void **state) {
    (void)state;
    mc_queue q;
    assert_int_equal(mc_queue_init(&q, 3), 0);
    for (int i = 1; i <= 3; i++) push_packet(&q, i);
    assert_int_equal(q.full_waits, 0);
    assert_int_equal(q.full_wait_ns, 0);
    for (int i = 1; i <= 3; i++) assert_int_equal(pop_size(&q), i);
    mc_queue_end(&q);
    assert_int_equal(mc_queue_pop(&q).kind, MC_QUEUE_END);
    mc_queue_destroy(&q);
}

typedef struct consumer {
    mc_queue *q;
    int popped[3];
} consumer;

/* Pops only once the producer is provably waiting on the full queue: it
 * counts the wait under the lock, which it releases only in the wait. */
static void *consume(void *arg) {
    consumer *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->q->lock);
        bool waiting = c->q->full_waits == 1;
        pthread_mutex_unlock(&c->q->lock);
        if (waiting) break;
        sched_yield();
    }
    for (int i = 0; i < 3; i++) c->popped[i] = pop_size(c->q);
    return NULL;
}

static void test_a_push_into_a_full_queue_waits_and_is_counted(void **state) {
    (void)state;
    mc_queue q;
    assert_int_equal(mc_queue_init(&q, 2), 0);
    push_packet(&q, 1);
    push_packet(&q, 2);
    consumer c = {.q = &q};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consume, &c), 0);
    push_packet(&q, 3);  /* full: returns only after the consumer popped one */
    pthread_join(t, NULL);
    assert_int_equal(c.popped[0], 1);
    assert_int_equal(c.popped[1], 2);
    assert_int_equal(c.popped[2], 3);
    assert_int_equal(q.full_waits, 1);
    assert_true(q.full_wait_ns > 0);
    mc_queue_destroy(&q);
}

static void *pop_one(void *arg) {
    consumer *c = arg;
    c->popped[0] = pop_size(c->q);
    return NULL;
}

static void test_a_pop_from_an_empty_queue_waits_and_is_counted(void **state) {
    (void)state;
    mc_queue q;
    assert_int_equal(mc_queue_init(&q, 2), 0);
    consumer c = {.q = &q};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pop_one, &c), 0);
    for (;;) {  /* push only once the consumer provably waits */
        pthread_mutex_lock(&q.lock);
        bool waiting = q.empty_waits == 1;
        pthread_mutex_unlock(&q.lock);
        if (waiting) break;
        sched_yield();
    }
    push_packet(&q, 7);
    pthread_join(t, NULL);
    assert_int_equal(c.popped[0], 7);
    assert_int_equal(q.empty_waits, 1);
    assert_true(q.empty_wait_ns > 0);
    assert_int_equal(q.full_waits, 0);
    mc_queue_end(&q);  /* the end is not a wait: nothing more is counted */
    assert_int_equal(mc_queue_pop(&q).kind, MC_QUEUE_END);
    assert_int_equal(q.empty_waits, 1);
    mc_queue_destroy(&q);
}

static void test_a_closed_queue_refuses_pushes_without_counting(void **state) {
    (void)state;
    mc_queue q;
    assert_int_equal(mc_queue_init(&q, 1), 0);
    push_packet(&q, 1);
    mc_queue_close(&q);
    AVPacket *p = av_packet_alloc();
    assert_int_equal(av_new_packet(p, 4), 0);
    assert_int_equal(mc_queue_push_packet(&q, p), -1);
    assert_int_equal(p->size, 4); /* the reference stayed with the caller */
    av_packet_free(&p);
    assert_int_equal(q.full_waits, 0);
    assert_int_equal(mc_queue_pop(&q).kind, MC_QUEUE_CLOSED);
    mc_queue_destroy(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_end_and_no_wait_while_room),
        cmocka_unit_test(test_a_push_into_a_full_queue_waits_and_is_counted),
        cmocka_unit_test(test_a_pop_from_an_empty_queue_waits_and_is_counted),
        cmocka_unit_test(test_a_closed_queue_refuses_pushes_without_counting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
