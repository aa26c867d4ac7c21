/* The load-balancing broker's loop (zmqtui.services.broker.LoadBalancingBroker) in C.
 *
 * `LoadBalancer(frontend, backend, control, ...)` is the loop over three sockets
 * pyzmq made (their `underlying` addresses): a ROUTER facing clients, a ROUTER facing workers
 * (ROUTER_MANDATORY set) and the PAIR the owner steers it through. `run()` forwards, with the
 * GIL released, until there is something to log (a tuple of events) or the owner says
 * TERMINATE (None). The routing is broker.py's contract; this file keeps its names.
 *
 * Ownership of messages: a request's frames stay in its `request` until it is answered or given
 * up (the worker gets copies, which share the content); a reply's frames go out as received.
 * A large reply (the reply budget) is sent as a message whose content is the received frame's,
 * with a free callback libzmq calls (from its I/O thread, or from this one) once it lets go of
 * it: that callback settles the client's `account` with atomics, and an account lives as long
 * as the table or a message in flight refers to it, so neither outlives the other's use.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb.h"
#include "zmqapi.h"

#define BATCH 256                 /* messages read from one socket before looking at the others */
#define SERVICE_WEIGHT 0.25       /* of the newest reply in a worker's moving average */
#define SWEEP_EVERY 256           /* tracked replies between two sweeps of the accounts */
#define MAX_EVENTS 32             /* events kept for the owner's log between two returns */
#define MAX_FREE_REQUESTS 1024    /* freed requests kept for reuse */
#define MAX_COUNT_DIGITS 18       /* a READY's credit or count longer than this is malformed */
#define NOWHERE (-1)
#define IDLE 0

enum counter {
    FRONTEND_IN,
    FRONTEND_BYTES_IN,
    FRONTEND_OUT,
    FRONTEND_BYTES_OUT,
    BACKEND_IN,
    BACKEND_BYTES_IN,
    BACKEND_OUT,
    BACKEND_BYTES_OUT,
    REQUESTS_REQUEUED,
    FRONTEND_DROPPED,
    BACKEND_DROPPED,
    UNANSWERED,
    REPLIES_DROPPED_UNREAD,
    QUEUED,
    IDLE_WORKERS,
    HELD,
    COUNTERS,
};

static const char *const counter_names[COUNTERS] = {
    "frontend_in", "frontend_bytes_in", "frontend_out", "frontend_bytes_out",
    "backend_in", "backend_bytes_in", "backend_out", "backend_bytes_out",
    "requests_requeued", "frontend_dropped", "backend_dropped", "unanswered",
    "replies_dropped_unread", "queued", "idle_workers", "held",
};

/* --- routing ids and a table keyed by them ------------------------------------------------ */

typedef struct key {
    size_t len; /* a routing id is 1 to 255 bytes */
    unsigned char bytes[255];
} key;

static int key_set(key *k, const void *bytes, size_t len)
{
    if (len > sizeof(k->bytes))
        return -1;
    k->len = len;
    memcpy(k->bytes, bytes, len);
    return 0;
}

typedef struct entry {
    struct entry *next;
    uint32_t hash;
    void *value;
    size_t len;
    unsigned char bytes[]; /* the key, `len` of them */
} entry;

typedef struct keymap {
    entry **buckets;
    size_t mask;
    size_t count;
} keymap;

static uint32_t hash_of(const unsigned char *bytes, size_t len)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ bytes[i]) * 16777619u;
    return hash;
}

static int map_init(keymap *map)
{
    map->mask = 63;
    map->count = 0;
    map->buckets = calloc(map->mask + 1, sizeof(entry *));
    return map->buckets ? 0 : -1;
}

static entry **map_slot(keymap *map, const void *bytes, size_t len, uint32_t hash)
{
    entry **slot = &map->buckets[hash & map->mask];
    while (*slot != NULL) {
        entry *e = *slot;
        if (e->hash == hash && e->len == len && memcmp(e->bytes, bytes, len) == 0)
            break;
        slot = &e->next;
    }
    return slot;
}

static void *map_get(keymap *map, const void *bytes, size_t len)
{
    entry *e = *map_slot(map, bytes, len, hash_of(bytes, len));
    return e ? e->value : NULL;
}

static int map_has(keymap *map, const void *bytes, size_t len)
{
    return *map_slot(map, bytes, len, hash_of(bytes, len)) != NULL;
}

static void map_grow(keymap *map)
{
    size_t mask = map->mask * 2 + 1;
    entry **buckets = calloc(mask + 1, sizeof(entry *));
    if (buckets == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= map->mask; i++) {
        entry *e = map->buckets[i];
        while (e != NULL) {
            entry *next = e->next;
            e->next = buckets[e->hash & mask];
            buckets[e->hash & mask] = e;
            e = next;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->mask = mask;
}

/* Add `bytes` (absent, at most 255 bytes) with `value`; 0, or -1 out of memory. */
static int map_add(keymap *map, const void *bytes, size_t len, void *value)
{
    entry *e = malloc(sizeof(entry) + len);
    if (e == NULL)
        return -1;
    e->hash = hash_of(bytes, len);
    e->value = value;
    e->len = len;
    memcpy(e->bytes, bytes, len);
    e->next = map->buckets[e->hash & map->mask];
    map->buckets[e->hash & map->mask] = e;
    if (++map->count > map->mask)
        map_grow(map);
    return 0;
}

/* Remove `bytes`; 1 and its value in `*value` if it was there, else 0. */
static int map_take(keymap *map, const void *bytes, size_t len, void **value)
{
    entry **slot = map_slot(map, bytes, len, hash_of(bytes, len));
    entry *e = *slot;
    if (e == NULL)
        return 0;
    *slot = e->next;
    if (value)
        *value = e->value;
    free(e);
    map->count--;
    return 1;
}

/* Remove every entry for which `drop(value)` says so (every one if `drop` is NULL), giving its
 * value to `release`. */
static void map_filter(keymap *map, int (*drop)(void *), void (*release)(void *))
{
    for (size_t i = 0; i <= map->mask; i++) {
        entry **slot = &map->buckets[i];
        while (*slot != NULL) {
            entry *e = *slot;
            if (drop == NULL || drop(e->value)) {
                *slot = e->next;
                if (release)
                    release(e->value);
                free(e);
                map->count--;
            } else {
                slot = &e->next;
            }
        }
    }
}

static void map_free(keymap *map, void (*release)(void *))
{
    if (map->buckets == NULL)
        return;
    map_filter(map, NULL, release);
    free(map->buckets);
    map->buckets = NULL;
}

/* --- requests, workers and the reply budget's accounts ------------------------------------ */

typedef struct request {
    zparts parts; /* as the frontend gave it: [client id, ..., "", body] */
    double sent_at;
    int requeued;
    struct request *next_free;
} request;

typedef struct worker {
    struct worker *prev, *next; /* in the queue `place` names */
    int place;                  /* NOWHERE, IDLE, or the number it holds in its level */
    int credit;
    request **held; /* a ring of max_credit, oldest at `first` */
    int first, holds;
    int64_t sent, taken_base, sent_at_ready;
    int knows_base;
    double service, last_reply;
    key id;
} worker;

typedef struct queue {
    worker *head, *tail;
    size_t count;
} queue;

typedef struct account {
    atomic_llong bytes; /* of large replies libzmq still holds for this client */
    atomic_int refs;    /* the table's, plus one per such reply */
    int warned;
} account;

typedef struct tracked {
    zmq_msg_t frame; /* the received reply, whose content the sent message lends */
    account *account;
    long long size;
} tracked;

typedef struct event {
    enum { UNREAD, UNDRAINED, FAILED } kind;
    long long bytes;
    int error;
    key worker;
} event;

typedef struct balancer {
    void *frontend, *backend, *control;
    int max_credit;
    double stack_service_s, stack_stall_s;
    long long reply_budget, tracked_from;
    size_t remembered_ignored;

    unsigned long long counters[COUNTERS];
    keymap workers, ignored, accounts;
    key *ignored_order; /* ring of remembered_ignored, oldest at ignored_first */
    size_t ignored_first;
    queue idle;
    queue *levels; /* max_credit of them; [0] unused */
    size_t room, held;
    request **pending; /* a ring, served from `pending_first` */
    size_t pending_first, pending_count, pending_capacity;
    request *free_requests;
    size_t free_count;
    zparts in; /* the message being read from the backend or the control pair */
    int until_sweep;
    event events[MAX_EVENTS];
    int event_count;
    int error; /* of the failure that stopped the loop */
} balancer;

enum outcome { REPORT, STOPPED, FAILED_ };

static double monotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void account_release(account *a)
{
    if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
        free(a);
}

static void account_release_value(void *value) { account_release(value); }

static int account_settled(void *value)
{
    return atomic_load_explicit(&((account *)value)->bytes, memory_order_acquire) == 0;
}

/* libzmq is done with a large reply (written out, or dropped with its peer): any thread. */
static void tracked_released(void *data UNUSED, void *hint)
{
    tracked *t = hint;
    account *a = t->account;
    atomic_fetch_sub_explicit(&a->bytes, t->size, memory_order_release);
    zapi.msg_close(&t->frame);
    free(t);
    account_release(a);
}

/* Room for one more event besides the FAILED one that may end the loop: when there is none,
 * reading stops until the owner has taken the events (the loop returns with them). */
static int events_full(const balancer *b)
{
    return b->event_count >= MAX_EVENTS - 1;
}

static void log_event(balancer *b, int kind, long long bytes, int error, const key *id)
{
    if (b->event_count == MAX_EVENTS)
        return; /* only a FAILED can meet this: the readers stop at events_full */
    event *e = &b->events[b->event_count++];
    e->kind = kind;
    e->bytes = bytes;
    e->error = error;
    if (id)
        e->worker = *id;
    else
        e->worker.len = 0;
}

static request *request_new(balancer *b)
{
    request *r = b->free_requests;
    if (r != NULL) {
        b->free_requests = r->next_free;
        b->free_count--;
        return r;
    }
    r = calloc(1, sizeof(request));
    return r;
}

static void request_free(balancer *b, request *r)
{
    if (b->free_count >= MAX_FREE_REQUESTS) {
        zparts_free(&r->parts);
        free(r);
        return;
    }
    zparts_trim(&r->parts, ZPARTS_ROOM_KEPT);
    r->next_free = b->free_requests;
    b->free_requests = r;
    b->free_count++;
}

static int pending_push_front(balancer *b, request *r)
{
    if (b->pending_count == b->pending_capacity) {
        size_t capacity = b->pending_capacity ? b->pending_capacity * 2 : 64;
        request **ring = malloc(capacity * sizeof(request *));
        if (ring == NULL)
            return -1;
        for (size_t i = 0; i < b->pending_count; i++)
            ring[i] = b->pending[(b->pending_first + i) % b->pending_capacity];
        free(b->pending);
        b->pending = ring;
        b->pending_first = 0;
        b->pending_capacity = capacity;
    }
    b->pending_first = (b->pending_first + b->pending_capacity - 1) % b->pending_capacity;
    b->pending[b->pending_first] = r;
    b->pending_count++;
    return 0;
}

static request *pending_pop_front(balancer *b)
{
    request *r = b->pending[b->pending_first];
    b->pending_first = (b->pending_first + 1) % b->pending_capacity;
    b->pending_count--;
    return r;
}

static request *held_oldest(worker *w) { return w->held[w->first]; }

static request *held_pop_oldest(balancer *b, worker *w)
{
    request *r = w->held[w->first];
    w->first = (w->first + 1) % b->max_credit;
    w->holds--;
    b->held--;
    return r;
}

static void queue_push(queue *q, worker *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->count++;
}

static void queue_unlink(queue *q, worker *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    q->count--;
}

static worker *worker_meet(balancer *b, const void *id, size_t len)
{
    worker *w = calloc(1, sizeof(worker));
    if (w == NULL)
        return NULL;
    w->held = calloc((size_t)b->max_credit, sizeof(request *));
    if (w->held == NULL || map_add(&b->workers, id, len, w) != 0) {
        free(w->held);
        free(w);
        return NULL;
    }
    key_set(&w->id, id, len);
    w->place = NOWHERE;
    w->credit = 1;
    w->service = INFINITY;
    return w;
}

/* Queue `w` for more work if it has room (it is in no queue now). */
static void place(balancer *b, worker *w)
{
    if (w->holds == 0) {
        w->place = IDLE;
        queue_push(&b->idle, w);
        b->room++;
    } else if (w->holds < w->credit && w->service <= b->stack_service_s) {
        w->place = w->holds;
        queue_push(&b->levels[w->holds], w);
        b->room++;
    }
}

static void unplace(balancer *b, worker *w)
{
    if (w->place == NOWHERE)
        return;
    queue_unlink(w->place == IDLE ? &b->idle : &b->levels[w->place], w);
    w->place = NOWHERE;
    b->room--;
}

/* The worker the next request goes to, out of its queue; NULL if none has room. */
static worker *pick(balancer *b, double now)
{
    if (b->room == 0)
        return NULL;
    worker *w = b->idle.head;
    if (w != NULL) {
        queue_unlink(&b->idle, w);
        w->place = NOWHERE;
        b->room--;
        return w;
    }
    for (int level = 1; level < b->max_credit; level++) {
        queue *q = &b->levels[level];
        while ((w = q->tail) != NULL) {
            /* The one that got there last: a worker that keeps answering comes back up and is
               picked again, one that sits on its requests sinks. */
            queue_unlink(q, w);
            w->place = NOWHERE;
            b->room--;
            if (now - held_oldest(w)->sent_at < b->stack_stall_s)
                return w;
            /* Stalled on its oldest request: it waits for its next reply or READY. */
        }
    }
    return NULL;
}

/* Put `r` back at the front of the queue, or give up on it (counted) when memory runs out. */
static void keep_or_drop(balancer *b, request *r)
{
    if (pending_push_front(b, r) != 0) {
        request_free(b, r);
        b->counters[UNANSWERED]++;
    }
}

static int fail(balancer *b, int error)
{
    b->error = error;
    return -1;
}

/* Send `r` to the best worker still there, or hold it until one has room; -1 on a failure
 * that stops the loop (`r` is then pending). */
static int dispatch(balancer *b, request *r)
{
    double now = monotonic();
    worker *w;
    while ((w = pick(b, now)) != NULL) {
        if (zapi.send(b->backend, w->id.bytes, w->id.len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            int error = zapi.errno_();
            if (error == EHOSTUNREACH || error == EAGAIN || error == EINTR)
                continue; /* gone or choked: out of the queues until its next READY */
            keep_or_drop(b, r);
            return fail(b, error);
        }
        unsigned long long bytes = w->id.len;
        int failed = zapi.send(b->backend, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0;
        for (int i = 0; i < r->parts.count && !failed; i++) {
            zmq_msg_t copy;
            zapi.msg_init(&copy);
            zapi.msg_copy(&copy, &r->parts.frames[i]);
            bytes += zapi.msg_size(&copy);
            int flags = ZMQ_DONTWAIT | (i < r->parts.count - 1 ? ZMQ_SNDMORE : 0);
            if (zapi.msg_send(&copy, b->backend, flags) < 0) {
                zapi.msg_close(&copy);
                failed = 1;
            }
        }
        if (failed) { /* past the first frame only the context ending fails a send */
            int error = zapi.errno_();
            keep_or_drop(b, r);
            return fail(b, error);
        }
        b->counters[BACKEND_OUT] += 2 + (unsigned)r->parts.count;
        b->counters[BACKEND_BYTES_OUT] += bytes;
        r->sent_at = now;
        w->held[(w->first + w->holds) % b->max_credit] = r;
        w->holds++;
        w->sent++;
        b->held++;
        place(b, w);
        return 0;
    }
    keep_or_drop(b, r);
    return 0;
}

/* Settle what `w` holds from a READY: it has answered every request it took. Requests it has
 * not taken are on their way, unless they were sent before its previous READY: a whole
 * heartbeat later they are lost, as are the replies of those it took. */
static void reckon(balancer *b, worker *w, int counted, int64_t taken)
{
    int64_t done;
    if (counted) {
        if (!w->knows_base) {
            /* Its first count: what the broker thinks it holds is still on the way. */
            w->taken_base = taken - (w->sent - w->holds);
            w->knows_base = 1;
        } else if (taken - w->taken_base > w->sent) {
            /* More than it was sent (it met another broker under its id): start afresh. */
            w->taken_base = taken - w->sent;
        }
        done = taken - w->taken_base;
        if (done < w->sent_at_ready)
            done = w->sent_at_ready;
    } else {
        done = w->sent_at_ready;
    }
    int64_t on_the_way = w->sent - done > 0 ? w->sent - done : 0;
    while (w->holds > on_the_way) {
        request_free(b, held_pop_oldest(b, w));
        b->counters[UNANSWERED]++;
    }
    w->sent_at_ready = w->sent;
}

/* A READY's credit or count: ASCII digits; -1 if malformed. */
static int64_t parse_count(zmq_msg_t *frame)
{
    size_t size = zapi.msg_size(frame);
    const unsigned char *digits = zapi.msg_data(frame);
    if (size == 0 || size > MAX_COUNT_DIGITS)
        return -1;
    int64_t value = 0;
    for (size_t i = 0; i < size; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return -1;
        value = value * 10 + (digits[i] - '0');
    }
    return value;
}

/* Take a READY (`[READY]`, or `[READY, credit, taken]` in frames 2 up); 0 if malformed. */
static int take_ready(balancer *b, zparts *m)
{
    int64_t credit = 1, taken = 0;
    int counted = m->count == 5;
    if (counted) {
        credit = parse_count(&m->frames[3]);
        taken = parse_count(&m->frames[4]);
        if (credit < 1 || taken < 0)
            return 0;
    }
    const void *id = zapi.msg_data(&m->frames[0]);
    size_t len = zapi.msg_size(&m->frames[0]);
    if (map_has(&b->ignored, id, len))
        return 1;
    worker *w = map_get(&b->workers, id, len);
    if (w == NULL && (w = worker_meet(b, id, len)) == NULL)
        return 1; /* out of memory: it is met at its next READY */
    w->credit = credit < b->max_credit ? (int)credit : b->max_credit;
    reckon(b, w, counted, taken);
    unplace(b, w);
    place(b, w);
    return 1;
}

/* A reply from `w` went out: its oldest request is done. */
static void answered(balancer *b, worker *w)
{
    double now = monotonic();
    if (w->holds > 0) {
        request *r = held_pop_oldest(b, w);
        /* From when it could start on it: sent, or its previous reply if that came later. */
        double took = now - (r->sent_at > w->last_reply ? r->sent_at : w->last_reply);
        request_free(b, r);
        if (isinf(w->service))
            w->service = took;
        else
            w->service += (took - w->service) * SERVICE_WEIGHT;
    }
    w->last_reply = now;
    unplace(b, w);
    place(b, w);
}

enum sent { SENT, UNREAD_DROPPED };

/* Send frames [2, count) of `m` (a reply from a worker) to the frontend, a large reply only
 * within its client's budget; -1 on a failure that stops the loop. */
static int send_reply(balancer *b, zparts *m, enum sent *outcome)
{
    int last = m->count - 1;
    long long size = (long long)zapi.msg_size(&m->frames[last]);
    account *a = NULL;
    if (size >= b->tracked_from) {
        const void *peer = zapi.msg_data(&m->frames[2]);
        size_t len = zapi.msg_size(&m->frames[2]);
        a = map_get(&b->accounts, peer, len);
        if (a != NULL) {
            long long held = atomic_load_explicit(&a->bytes, memory_order_acquire);
            if (held == 0) {
                a->warned = 0;
            } else if (held + size > b->reply_budget) {
                if (!a->warned) {
                    a->warned = 1;
                    log_event(b, UNREAD, held, 0, NULL);
                }
                *outcome = UNREAD_DROPPED;
                return 0;
            }
        } else if (len <= sizeof(((key *)0)->bytes) && (a = calloc(1, sizeof(account)))) {
            atomic_init(&a->refs, 1);
            atomic_init(&a->bytes, 0);
            if (map_add(&b->accounts, peer, len, a) != 0) {
                free(a);
                a = NULL;
            }
        }
    }
    for (int i = 2; i < last; i++) {
        /* The frontend drops what a client cannot take (it is not ROUTER_MANDATORY): only
           the context ending fails a send. */
        if (zapi.msg_send(&m->frames[i], b->frontend, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return fail(b, zapi.errno_());
    }
    zmq_msg_t out;
    tracked *t = a ? malloc(sizeof(tracked)) : NULL;
    if (t != NULL) {
        zapi.msg_init(&t->frame);
        zapi.msg_move(&t->frame, &m->frames[last]);
        t->account = a;
        t->size = size;
        atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->bytes, size, memory_order_relaxed);
        if (zapi.msg_init_data(&out, zapi.msg_data(&t->frame), (size_t)size, tracked_released,
                               t) != 0) {
            zapi.msg_move(&m->frames[last], &t->frame);
            atomic_fetch_sub_explicit(&a->bytes, size, memory_order_relaxed);
            account_release(a);
            free(t);
            t = NULL;
        } else if (--b->until_sweep <= 0) {
            b->until_sweep = SWEEP_EVERY;
            /* The clients with nothing held (those that left among them) are forgotten. */
            map_filter(&b->accounts, account_settled, account_release_value);
        }
    }
    zmq_msg_t *frame = t ? &out : &m->frames[last];
    if (zapi.msg_send(frame, b->frontend, ZMQ_DONTWAIT) < 0) {
        int error = zapi.errno_();
        if (t != NULL)
            zapi.msg_close(&out); /* settles the account */
        return fail(b, error); /* past the first frame only the context ending fails a send */
    }
    *outcome = SENT;
    return 0;
}

static int frame_is(zmq_msg_t *frame, const char *text)
{
    size_t len = strlen(text);
    return zapi.msg_size(frame) == len && memcmp(zapi.msg_data(frame), text, len) == 0;
}

static int drain_backend(balancer *b)
{
    zparts *m = &b->in;
    for (int n = 0; n < BATCH && !events_full(b); n++) {
        if (zparts_recv(m, b->backend, ZMQ_DONTWAIT) != 0) {
            int error = zapi.errno_();
            if (error == ENOMEM) { /* dropped whole: the next message is whole */
                b->counters[BACKEND_DROPPED]++;
                continue;
            }
            return error == EAGAIN || error == EINTR ? 0 : fail(b, error);
        }
        unsigned long long size = 0;
        for (int i = 0; i < m->count; i++)
            size += zapi.msg_size(&m->frames[i]);
        b->counters[BACKEND_IN] += (unsigned)m->count;
        b->counters[BACKEND_BYTES_IN] += size;
        if (m->count < 3 || zapi.msg_size(&m->frames[1]) != 0) {
            b->counters[BACKEND_DROPPED]++;
            continue;
        }
        if (m->count == 3 || (m->count == 5 && frame_is(&m->frames[2], "READY") &&
                              zapi.msg_size(&m->frames[3]) != 0)) {
            if (!take_ready(b, m))
                b->counters[BACKEND_DROPPED]++;
            continue;
        }
        size_t id_len = zapi.msg_size(&m->frames[0]);
        enum sent outcome;
        if (send_reply(b, m, &outcome) != 0)
            return -1;
        if (outcome == SENT) {
            b->counters[FRONTEND_OUT] += (unsigned)m->count - 2;
            b->counters[FRONTEND_BYTES_OUT] += size - id_len;
        } else {
            b->counters[REPLIES_DROPPED_UNREAD]++;
        }
        const void *id = zapi.msg_data(&m->frames[0]);
        worker *w = map_get(&b->workers, id, id_len);
        if (w != NULL) {
            answered(b, w);
        } else if (!map_has(&b->ignored, id, id_len)) {
            /* A worker that announces itself with its first reply (a zguide REQ worker
               forgotten while silent, say): one request at a time. */
            if ((w = worker_meet(b, id, id_len)) != NULL)
                place(b, w);
        }
    }
    return 0;
}

static int drain_frontend(balancer *b)
{
    for (int n = 0; n < BATCH; n++) {
        if (b->pending_count > 0 || b->room == 0)
            return 0;
        request *r = request_new(b);
        if (r == NULL) { /* no memory to hold it: dropped, and the next one tried */
            if (zparts_recv(&b->in, b->frontend, ZMQ_DONTWAIT) != 0) {
                int error = zapi.errno_();
                if (error == ENOMEM) {
                    b->counters[FRONTEND_DROPPED]++;
                    continue;
                }
                return error == EAGAIN || error == EINTR ? 0 : fail(b, error);
            }
            zparts_trim(&b->in, ZPARTS_ROOM_KEPT);
            b->counters[FRONTEND_DROPPED]++;
            continue;
        }
        if (zparts_recv(&r->parts, b->frontend, ZMQ_DONTWAIT) != 0) {
            int error = zapi.errno_();
            request_free(b, r);
            if (error == ENOMEM) { /* dropped whole: the next message is whole */
                b->counters[FRONTEND_DROPPED]++;
                continue;
            }
            return error == EAGAIN || error == EINTR ? 0 : fail(b, error);
        }
        int delimited = 0;
        for (int i = 0; i < r->parts.count; i++) {
            size_t size = zapi.msg_size(&r->parts.frames[i]);
            b->counters[FRONTEND_BYTES_IN] += size;
            delimited |= i > 0 && size == 0;
        }
        b->counters[FRONTEND_IN] += (unsigned)r->parts.count;
        if (!delimited) {
            /* No envelope delimiter: no worker could address a reply to it. */
            b->counters[FRONTEND_DROPPED]++;
            request_free(b, r);
            continue;
        }
        r->requeued = 0;
        if (dispatch(b, r) != 0)
            return -1;
    }
    return 0;
}

static void ignore(balancer *b, const void *id, size_t len)
{
    if (len > sizeof(((key *)0)->bytes) || map_has(&b->ignored, id, len))
        return;
    size_t slot = (b->ignored_first + b->ignored.count) % b->remembered_ignored;
    if (b->ignored.count == b->remembered_ignored) {
        key *oldest = &b->ignored_order[b->ignored_first];
        map_take(&b->ignored, oldest->bytes, oldest->len, NULL);
        b->ignored_first = (b->ignored_first + 1) % b->remembered_ignored;
    }
    if (map_add(&b->ignored, id, len, NULL) == 0)
        key_set(&b->ignored_order[slot], id, len);
}

static int send_statistics(balancer *b)
{
    b->counters[QUEUED] = b->pending_count;
    b->counters[IDLE_WORKERS] = b->idle.count;
    b->counters[HELD] = b->held;
    for (int i = 0; i < COUNTERS; i++) {
        int flags = ZMQ_DONTWAIT | (i < COUNTERS - 1 ? ZMQ_SNDMORE : 0);
        if (zapi.send(b->control, &b->counters[i], sizeof(b->counters[i]), flags) < 0) {
            int error = zapi.errno_();
            /* An owner that stopped reading answers gets none (its queue is full). */
            return i == 0 && (error == EAGAIN || error == EINTR) ? 0 : fail(b, error);
        }
    }
    return 0;
}

static void tell_to_drain(balancer *b, zmq_msg_t *id_frame)
{
    const void *id = zapi.msg_data(id_frame);
    size_t len = zapi.msg_size(id_frame);
    /* All or nothing: with ROUTER_MANDATORY only the first frame can fail (gone or choked). */
    int sent = zapi.send(b->backend, id, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
               zapi.send(b->backend, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
               zapi.send(b->backend, "DRAIN", 5, ZMQ_DONTWAIT) >= 0;
    if (!sent) {
        int error = zapi.errno_();
        key named;
        if (key_set(&named, id, len) != 0)
            named.len = 0;
        log_event(b, UNDRAINED, 0, error, &named);
    }
}

/* Run one command from the owner: 1 to stop, 0 to go on, -1 on a failure. */
static int obey(balancer *b)
{
    zparts *m = &b->in;
    if (zparts_recv(m, b->control, ZMQ_DONTWAIT) != 0) {
        int error = zapi.errno_();
        return error == EAGAIN || error == EINTR ? 0 : fail(b, error);
    }
    zmq_msg_t *command = &m->frames[0];
    if (frame_is(command, "TERMINATE"))
        return 1;
    if (frame_is(command, "STATISTICS"))
        return send_statistics(b);
    int forget = frame_is(command, "FORGET");
    if (m->count != 3 || !(forget || frame_is(command, "RETIRE") || frame_is(command, "DRAIN")))
        return 0;
    if (frame_is(command, "DRAIN"))
        tell_to_drain(b, &m->frames[1]);
    const void *id = zapi.msg_data(&m->frames[1]);
    size_t len = zapi.msg_size(&m->frames[1]);
    void *found = NULL;
    map_take(&b->workers, id, len, &found);
    if (!forget || !frame_is(&m->frames[2], "revivable"))
        ignore(b, id, len);
    worker *w = found;
    if (w == NULL)
        return 0;
    unplace(b, w);
    /* Newest first, each to the front: they are served again in the order they came. */
    while (w->holds > 0) {
        request *r = w->held[(w->first + w->holds - 1) % b->max_credit];
        w->holds--;
        b->held--;
        if (!forget) {
            request_free(b, r);
        } else if (r->requeued) { /* its second worker lost: given up on */
            b->counters[UNANSWERED]++;
            request_free(b, r);
        } else {
            b->counters[REQUESTS_REQUEUED]++;
            r->requeued = 1;
            if (pending_push_front(b, r) != 0) {
                b->counters[UNANSWERED]++;
                request_free(b, r);
            }
        }
    }
    free(w->held);
    free(w);
    return 0;
}

static enum outcome forward(balancer *b)
{
    for (;;) {
        while (b->pending_count > 0 && b->room > 0)
            if (dispatch(b, pending_pop_front(b)) != 0)
                return FAILED_;
        if (b->event_count > 0)
            return REPORT;
        zmq_pollitem_t items[3] = {
            {b->backend, 0, ZMQ_POLLIN, 0},
            {b->control, 0, ZMQ_POLLIN, 0},
            {b->frontend, 0, ZMQ_POLLIN, 0},
        };
        int polled = b->room > 0 ? 3 : 2;
        if (zapi.poll(items, polled, -1) < 0) {
            int error = zapi.errno_();
            if (error == EINTR)
                continue;
            fail(b, error);
            return FAILED_;
        }
        if ((items[0].revents & ZMQ_POLLIN) && drain_backend(b) != 0)
            return FAILED_;
        zparts_trim(&b->in, ZPARTS_ROOM_KEPT);
        if ((items[1].revents & ZMQ_POLLIN) && !events_full(b)) {
            int stop = obey(b);
            zparts_trim(&b->in, ZPARTS_ROOM_KEPT);
            if (stop != 0)
                return stop > 0 ? STOPPED : FAILED_;
        }
        if (polled == 3 && (items[2].revents & ZMQ_POLLIN) && drain_frontend(b) != 0)
            return FAILED_;
    }
}

static void worker_release(void *value)
{
    worker *w = value;
    free(w->held);
    free(w);
}

/* Let go of every message and worker (held requests are closed, accounts released: large
 * replies libzmq still holds keep theirs until it lets go of them). */
static void balancer_clear(balancer *b)
{
    for (size_t i = 0; b->workers.buckets && i <= b->workers.mask; i++)
        for (entry *e = b->workers.buckets[i]; e != NULL; e = e->next) {
            worker *w = e->value;
            while (w->holds > 0)
                request_free(b, held_pop_oldest(b, w));
        }
    map_free(&b->workers, worker_release);
    map_free(&b->ignored, NULL);
    map_free(&b->accounts, account_release_value);
    while (b->pending_count > 0)
        request_free(b, pending_pop_front(b));
    free(b->pending);
    b->pending = NULL;
    b->pending_capacity = 0;
    while (b->free_requests != NULL) {
        request *r = b->free_requests;
        b->free_requests = r->next_free;
        zparts_free(&r->parts);
        free(r);
    }
    b->free_count = 0;
    zparts_free(&b->in);
    free(b->levels);
    b->levels = NULL;
    free(b->ignored_order);
    b->ignored_order = NULL;
}

/* --- the Python type --------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    balancer *balancer; /* NULL once stopped */
    int running;
} LoadBalancerObject;

static void LoadBalancer_dealloc(LoadBalancerObject *self)
{
    if (self->balancer != NULL) {
        balancer_clear(self->balancer);
        free(self->balancer);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *event_tuple(const event *e)
{
    switch (e->kind) {
    case UNREAD:
        return Py_BuildValue("(sL)", "unread", e->bytes);
    case UNDRAINED:
        return Py_BuildValue("(sy#s)", "undrained", (const char *)e->worker.bytes,
                             (Py_ssize_t)e->worker.len, zapi.strerror(e->error));
    default:
        return Py_BuildValue("(ss)", "failed", zapi.strerror(e->error));
    }
}

static PyObject *LoadBalancer_run(LoadBalancerObject *self, PyObject *unused UNUSED)
{
    balancer *b = self->balancer;
    if (b == NULL)
        Py_RETURN_NONE;
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the load balancer is already running");
        return NULL;
    }
    self->running = 1;
    enum outcome outcome;
    Py_BEGIN_ALLOW_THREADS
    outcome = forward(b);
    if (outcome != REPORT) {
        if (outcome == FAILED_ && b->error != ZMQ_ETERM)
            log_event(b, FAILED, 0, b->error, NULL);
        balancer_clear(b);
    }
    Py_END_ALLOW_THREADS
    self->running = 0;
    PyObject *events = PyTuple_New(b->event_count);
    for (int i = 0; events != NULL && i < b->event_count; i++) {
        PyObject *item = event_tuple(&b->events[i]);
        if (item == NULL)
            Py_CLEAR(events);
        else
            PyTuple_SET_ITEM(events, i, item);
    }
    b->event_count = 0;
    if (outcome != REPORT) {
        free(b);
        self->balancer = NULL;
        if (events != NULL && PyTuple_GET_SIZE(events) == 0) {
            Py_DECREF(events);
            Py_RETURN_NONE;
        }
    }
    return events;
}

static PyMethodDef LoadBalancer_methods[] = {
    {"run", (PyCFunction)LoadBalancer_run, METH_NOARGS,
     "Forward until there is something to log (a tuple of events) or the loop stopped (None)."},
    {NULL, NULL, 0, NULL},
};

static PyObject *LoadBalancer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs);

static PyTypeObject LoadBalancerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqtui.native._loops.LoadBalancer",
    .tp_doc = "LoadBalancer(frontend, backend, control, *, max_credit, stack_service_s, "
              "stack_stall_s, reply_budget, tracked_from, remembered_ignored): the lb broker's "
              "loop over three sockets (their addresses).",
    .tp_basicsize = sizeof(LoadBalancerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)LoadBalancer_dealloc,
    .tp_methods = LoadBalancer_methods,
    .tp_new = LoadBalancer_new,
};

static int balancer_init(balancer *b)
{
    b->levels = calloc((size_t)b->max_credit, sizeof(queue));
    b->ignored_order = calloc(b->remembered_ignored, sizeof(key));
    b->until_sweep = SWEEP_EVERY;
    if (b->levels == NULL || b->ignored_order == NULL || map_init(&b->workers) != 0 ||
        map_init(&b->ignored) != 0 || map_init(&b->accounts) != 0)
        return -1;
    return 0;
}

static PyObject *LoadBalancer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"frontend", "backend", "control", "max_credit",
                               "stack_service_s", "stack_stall_s", "reply_budget",
                               "tracked_from", "remembered_ignored", NULL};
    unsigned long long frontend, backend, control;
    int max_credit;
    double stack_service_s, stack_stall_s;
    long long reply_budget, tracked_from;
    Py_ssize_t remembered_ignored;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "KKK$iddLLn", keywords, &frontend, &backend,
                                     &control, &max_credit, &stack_service_s, &stack_stall_s,
                                     &reply_budget, &tracked_from, &remembered_ignored))
        return NULL;
    if (zapi_require() != 0)
        return NULL;
    if (max_credit < 1 || remembered_ignored < 1 || tracked_from < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "max_credit, tracked_from and remembered_ignored must be at least 1");
        return NULL;
    }
    balancer *b = calloc(1, sizeof(balancer));
    if (b == NULL)
        return PyErr_NoMemory();
    b->frontend = (void *)(uintptr_t)frontend;
    b->backend = (void *)(uintptr_t)backend;
    b->control = (void *)(uintptr_t)control;
    b->max_credit = max_credit;
    b->stack_service_s = stack_service_s;
    b->stack_stall_s = stack_stall_s;
    b->reply_budget = reply_budget;
    b->tracked_from = tracked_from;
    b->remembered_ignored = (size_t)remembered_ignored;
    if (balancer_init(b) != 0) {
        balancer_clear(b);
        free(b);
        return PyErr_NoMemory();
    }
    LoadBalancerObject *self = (LoadBalancerObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        balancer_clear(b);
        free(b);
        return NULL;
    }
    self->balancer = b;
    self->running = 0;
    return (PyObject *)self;
}

int lb_register(PyObject *module)
{
    if (PyModule_AddType(module, &LoadBalancerType) < 0)
        return -1;
    PyObject *names = PyTuple_New(COUNTERS);
    for (int i = 0; names != NULL && i < COUNTERS; i++) {
        PyObject *name = PyUnicode_FromString(counter_names[i]);
        if (name == NULL)
            Py_CLEAR(names);
        else
            PyTuple_SET_ITEM(names, i, name);
    }
    if (names == NULL)
        return -1;
    int added = PyModule_AddObjectRef(module, "LB_COUNTER_NAMES", names);
    Py_DECREF(names);
    return added;
}
