/* The tap's forwarding loop (zmqtui/services/tap.py states the contract).
 *
 * A ROUTER (clients) to DEALER (the service) proxy that pushes a marker frame of its own,
 * prefix + sequence number, just after the client's identity of each request, and takes it off
 * the reply: the marker names the request, so each reply is paired with its request whatever
 * order replies come in. `TapLoop.run` runs on the tap's thread with the GIL released and
 * touches no Python object: it forwards, keeps the first bytes of each message's first frames,
 * and leaves finished records (a pair, or a request given up on) in a bounded queue that
 * `drain` empties from any thread. A full queue loses records (counted), never slows the loop.
 */
#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zmqapi.h"

#define MAX_KEPT_FRAMES 8
#define MAX_KEPT_BYTES (1 << 20)
#define MARKER_PREFIX_BYTES 4
#define MARKER_BYTES (MARKER_PREFIX_BYTES + 8)
#define POLL_MS 50
#define BATCH 256
#define FIRST_SLOTS 1024
#define FIRST_RING 1024
#define EXPIRE_BATCH 4096 /* requests flagged at most per turn of the loop, between polls */

/* Counts are written by the loop's thread only and read by any: relaxed atomics. */
#define READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define SET(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define COUNT(field) SET(field, READ(field) + 1)

enum why { PAIRED, TIMEOUT, EVICTED };

/* A message's body as kept: its first frames, each cut to its first bytes (`Kept`). */
typedef struct body {
    uint64_t size;                 /* bytes in all its frames */
    size_t frame_count;
    int kept;                      /* frames kept */
    size_t sizes[MAX_KEPT_FRAMES];   /* the kept frames' sizes before the cut */
    uint32_t lens[MAX_KEPT_FRAMES];  /* the bytes kept of each (at most MAX_KEPT_BYTES) */
    size_t tail_len;
    unsigned char data[];          /* the kept bytes of each frame in turn, then the tail */
} body;

/* A pending request's entry in the table: its seq beside it, so probing reads no record. */
typedef struct slot {
    uint64_t seq;
    struct record *record; /* NULL: empty */
} slot;

/* A request, pending (in the table and the age list) or finished (in the queue). */
typedef struct record {
    struct record *older, *newer;
    uint64_t seq;
    int64_t sent_ns;               /* CLOCK_MONOTONIC */
    int64_t latency_ns;
    enum why why;
    body *request, *reply;
    size_t client_len;
    unsigned char client[];
} record;

typedef struct {
    PyObject_HEAD
    unsigned char prefix[MARKER_PREFIX_BYTES];
    size_t kept_bytes, tail_bytes;
    int kept_frames;
    int64_t timeout_ns;
    size_t max_pending, max_queued;
    double wall_offset_ms; /* the wall clock minus CLOCK_MONOTONIC */

    /* The loop's own: only its thread touches these while it runs. */
    uint64_t seq;
    slot *slots;    /* pending records by seq: open addressing, linear probing */
    size_t mask;    /* slots - 1, a power of two less one */
    record *oldest, *newest;
    zparts parts;
    zparts held; /* a request the backend could not take yet, sent before reading more */
    unsigned char held_marker[MARKER_BYTES];
    int holding;

    /* Finished records for `drain`, under `lock`. */
    pthread_mutex_t lock;
    record **ring;
    size_t ring_capacity, ring_head, ring_count;

    uint64_t requests, pairs, timeouts, evicted, late, unmatched, lost, pending;
    int stopping;
    int started;
} TapLoop;

static int64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static size_t smaller(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* --- kept bodies and records ------------------------------------------------------------ */

/* Where a body starts: just past the first empty frame from `from` on (the envelope's end),
 * or at `otherwise` when there is none. */
static int body_start(zparts *parts, int from, int otherwise)
{
    for (int i = from; i < parts->count; i++)
        if (zapi.msg_size(&parts->frames[i]) == 0)
            return i + 1;
    return otherwise;
}

/* Frames [from, count) kept as `Kept.of` keeps them; NULL when memory runs out. */
static body *keep(TapLoop *t, zparts *parts, int from)
{
    int count = from < parts->count ? parts->count - from : 0;
    int kept = count < t->kept_frames ? count : t->kept_frames;
    zmq_msg_t *frames = parts->frames + from;
    size_t bytes = 0, tail = 0;
    for (int i = 0; i < kept; i++)
        bytes += smaller(zapi.msg_size(&frames[i]), t->kept_bytes);
    size_t first = count ? zapi.msg_size(&frames[0]) : 0;
    if (first > t->kept_bytes)
        tail = smaller(first, t->tail_bytes);
    body *b = malloc(sizeof(body) + bytes + tail);
    if (b == NULL)
        return NULL;
    b->size = 0;
    b->frame_count = (size_t)count;
    b->kept = kept;
    b->tail_len = tail;
    unsigned char *out = b->data;
    for (int i = 0; i < count; i++) {
        size_t size = zapi.msg_size(&frames[i]);
        b->size += size;
        if (i < kept) {
            size_t len = smaller(size, t->kept_bytes);
            b->sizes[i] = size;
            b->lens[i] = (uint32_t)len;
            if (len) {
                memcpy(out, zapi.msg_data(&frames[i]), len);
                out += len;
            }
        }
    }
    if (tail)
        memcpy(out, (unsigned char *)zapi.msg_data(&frames[0]) + first - tail, tail);
    return b;
}

/* The request just received in `parts` (client identity first, no marker yet). */
static record *record_new(TapLoop *t, zparts *parts, uint64_t seq)
{
    size_t client_len = zapi.msg_size(&parts->frames[0]);
    record *r = malloc(sizeof(record) + client_len);
    if (r == NULL)
        return NULL;
    r->request = keep(t, parts, body_start(parts, 1, 1));
    if (r->request == NULL) {
        free(r);
        return NULL;
    }
    r->older = r->newer = NULL;
    r->seq = seq;
    r->sent_ns = monotonic_ns();
    r->latency_ns = -1;
    r->why = PAIRED;
    r->reply = NULL;
    r->client_len = client_len;
    if (client_len)
        memcpy(r->client, zapi.msg_data(&parts->frames[0]), client_len);
    return r;
}

static void record_free(record *r)
{
    free(r->request);
    free(r->reply);
    free(r);
}

/* --- the queue of finished records ------------------------------------------------------ */

/* Called on a full queue only: entries from the head wrap around to the start. */
static int ring_grow(TapLoop *t)
{
    size_t old = t->ring_capacity;
    size_t capacity = old ? smaller(old * 2, t->max_queued) : smaller(FIRST_RING, t->max_queued);
    record **ring = realloc(t->ring, capacity * sizeof(record *));
    if (ring == NULL)
        return -1;
    if (t->ring_head) { /* the part before the wrap moves to the new end */
        size_t moved = old - t->ring_head;
        memmove(ring + capacity - moved, ring + t->ring_head, moved * sizeof(record *));
        t->ring_head = capacity - moved;
    }
    t->ring = ring;
    t->ring_capacity = capacity;
    return 0;
}

/* Hand a finished record to the reader, or lose it (counted) when the queue is full. */
static void emit(TapLoop *t, record *r)
{
    pthread_mutex_lock(&t->lock);
    if (t->ring_count == t->ring_capacity
        && (t->ring_capacity == t->max_queued || ring_grow(t) != 0)) {
        COUNT(t->lost);
        pthread_mutex_unlock(&t->lock);
        record_free(r);
        return;
    }
    t->ring[(t->ring_head + t->ring_count) % t->ring_capacity] = r;
    t->ring_count++;
    pthread_mutex_unlock(&t->lock);
}

/* --- pending requests: a table by seq, and a list by age -------------------------------- */

/* Where probing for `seq` starts. Sequence numbers are consecutive: homed at `seq & mask`
 * they would fill one run of slots, and removing the oldest would walk all of it (quadratic
 * in the requests waiting); mixed first (MurmurHash3's finaliser), they spread out. */
static size_t home_of(const TapLoop *t, uint64_t seq)
{
    seq ^= seq >> 33;
    seq *= 0xff51afd7ed558ccdull;
    seq ^= seq >> 33;
    return (size_t)seq & t->mask;
}

static size_t slot_of(TapLoop *t, uint64_t seq)
{
    size_t i = home_of(t, seq);
    while (t->slots[i].record != NULL && t->slots[i].seq != seq)
        i = (i + 1) & t->mask;
    return i;
}

/* Empty slot `i`, moving back the entries after it that probing would no longer reach. */
static void slot_clear(TapLoop *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].record == NULL)
            break;
        size_t home = home_of(t, t->slots[j].seq);
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].record = NULL;
}

static int slots_grow(TapLoop *t)
{
    size_t old = t->mask + 1, capacity = old * 2;
    slot *slots = calloc(capacity, sizeof(slot));
    if (slots == NULL)
        return -1;
    slot *previous = t->slots;
    t->slots = slots;
    t->mask = capacity - 1;
    for (size_t i = 0; i < old; i++)
        if (previous[i].record != NULL)
            t->slots[slot_of(t, previous[i].seq)] = previous[i];
    free(previous);
    return 0;
}

static void pending_unlink(TapLoop *t, record *r, size_t at)
{
    slot_clear(t, at);
    if (r->older)
        r->older->newer = r->newer;
    else
        t->oldest = r->newer;
    if (r->newer)
        r->newer->older = r->older;
    else
        t->newest = r->older;
    r->older = r->newer = NULL;
    SET(t->pending, t->pending - 1);
}

static void give_up(TapLoop *t, record *r, enum why why)
{
    pending_unlink(t, r, slot_of(t, r->seq));
    r->why = why;
    if (why == TIMEOUT)
        COUNT(t->timeouts);
    else
        COUNT(t->evicted);
    emit(t, r);
}

static void pending_add(TapLoop *t, record *r)
{
    if (t->pending >= t->max_pending)
        give_up(t, t->oldest, EVICTED);
    /* Kept at most half full; when it cannot grow, it takes entries while one slot stays free. */
    if ((t->pending + 1) * 2 > t->mask + 1 && slots_grow(t) != 0 && t->pending + 2 > t->mask + 1) {
        record_free(r);
        return;
    }
    t->slots[slot_of(t, r->seq)] = (slot){.seq = r->seq, .record = r};
    r->older = t->newest;
    if (t->newest)
        t->newest->newer = r;
    else
        t->oldest = r;
    t->newest = r;
    SET(t->pending, t->pending + 1);
}

static record *pending_take(TapLoop *t, uint64_t seq)
{
    size_t i = slot_of(t, seq);
    record *r = t->slots[i].record;
    if (r != NULL)
        pending_unlink(t, r, i);
    return r;
}

/* Flag the requests waiting past the timeout, at most EXPIRE_BATCH of them so traffic and
 * `stop` are not held up by a crowd timing out at once; 1 if more are due. */
static int expire(TapLoop *t, int64_t now)
{
    int64_t cutoff = now - t->timeout_ns;
    for (int n = 0; n < EXPIRE_BATCH; n++) {
        if (t->oldest == NULL || t->oldest->sent_ns > cutoff)
            return 0;
        give_up(t, t->oldest, TIMEOUT);
    }
    return t->oldest != NULL && t->oldest->sent_ns <= cutoff;
}

/* --- forwarding ------------------------------------------------------------------------- */

/* 0, ETERM (the loop must end) or another errno (the message is dropped). */
static int failure(void)
{
    return zapi.errno_();
}

/* Send a request on with `marker` after its identity: 0, or an errno (EAGAIN or EINTR:
 * nothing sent, the frames keep their content). libzmq queues a message's parts together, so
 * only its first part can meet a full queue. */
static int send_request(zparts *parts, const unsigned char *marker, void *backend)
{
    if (zapi.msg_send(&parts->frames[0], backend, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return failure();
    int more = parts->count > 1 ? ZMQ_SNDMORE : 0;
    if (zapi.send(backend, marker, MARKER_BYTES, ZMQ_DONTWAIT | more) < 0)
        return failure();
    if (zparts_send(parts, 1, backend, ZMQ_DONTWAIT, 0) < 0)
        return failure();
    return 0;
}

static int requests(TapLoop *t, void *frontend, void *backend)
{
    zparts *parts = &t->parts;
    for (int n = 0; n < BATCH && !t->holding; n++) {
        if (zparts_recv(parts, frontend, ZMQ_DONTWAIT) < 0) {
            int error = failure();
            return error == ZMQ_ETERM ? error : 0;
        }
        if (parts->count < 2) /* a ROUTER always gives an identity and a body */
            continue;
        uint64_t seq = ++t->seq;
        unsigned char marker[MARKER_BYTES];
        memcpy(marker, t->prefix, MARKER_PREFIX_BYTES);
        for (int i = 0; i < 8; i++)
            marker[MARKER_PREFIX_BYTES + i] = (unsigned char)(seq >> (56 - 8 * i));
        COUNT(t->requests);
        record *r = record_new(t, parts, seq); /* NULL: no memory, forwarded unrecorded */
        int error = send_request(parts, marker, backend);
        if (error == EAGAIN || error == EINTR) {
            zparts empty = t->held;
            t->held = *parts;
            *parts = empty;
            memcpy(t->held_marker, marker, MARKER_BYTES);
            t->holding = 1;
        } else if (error == ZMQ_ETERM) {
            if (r != NULL)
                record_free(r);
            return error;
        }
        if (r != NULL)
            pending_add(t, r);
    }
    return 0;
}

static int send_held(TapLoop *t, void *backend)
{
    int error = send_request(&t->held, t->held_marker, backend);
    if (error == EAGAIN || error == EINTR)
        return 0;
    zparts_clear(&t->held);
    t->holding = 0;
    return error == ZMQ_ETERM ? error : 0;
}

static int replies(TapLoop *t, void *frontend, void *backend)
{
    zparts *parts = &t->parts;
    for (int n = 0; n < BATCH; n++) {
        if (zparts_recv(parts, backend, ZMQ_DONTWAIT) < 0) {
            int error = failure();
            return error == ZMQ_ETERM ? error : 0;
        }
        zmq_msg_t *marker = parts->count > 1 ? &parts->frames[1] : NULL;
        if (marker == NULL || zapi.msg_size(marker) != MARKER_BYTES
            || memcmp(zapi.msg_data(marker), t->prefix, MARKER_PREFIX_BYTES) != 0) {
            COUNT(t->unmatched);
            if (zparts_send(parts, 0, frontend, ZMQ_DONTWAIT, 0) < 0 && failure() == ZMQ_ETERM)
                return ZMQ_ETERM;
            continue;
        }
        int64_t now = monotonic_ns();
        const unsigned char *digits = (unsigned char *)zapi.msg_data(marker) + MARKER_PREFIX_BYTES;
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | digits[i];
        record *r = pending_take(t, seq);
        if (r != NULL) {
            r->reply = keep(t, parts, body_start(parts, 2, 2));
            r->latency_ns = now - r->sent_ns;
        }
        int more = parts->count > 2 ? ZMQ_SNDMORE : 0;
        int sent = zapi.msg_send(&parts->frames[0], frontend, ZMQ_DONTWAIT | more) >= 0
                   && zparts_send(parts, 2, frontend, ZMQ_DONTWAIT, 0) >= 0;
        int error = sent ? 0 : failure();
        if (r == NULL) {
            COUNT(t->late);
        } else if (r->reply == NULL) { /* no memory to keep it: the request is let go */
            record_free(r);
        } else {
            COUNT(t->pairs);
            emit(t, r);
        }
        if (error == ZMQ_ETERM)
            return error;
    }
    return 0;
}

/* The loop: 0 once stopped, or the errno that ended it. */
static int forward(TapLoop *t, void *frontend, void *backend)
{
    zmq_pollitem_t items[2] = {
        {.socket = backend, .events = ZMQ_POLLIN},
        {.socket = frontend, .events = ZMQ_POLLIN},
    };
    int64_t next_expiry = 0, every = (int64_t)POLL_MS * 1000000;
    int error = 0, more_due = 0;
    while (!__atomic_load_n(&t->stopping, __ATOMIC_ACQUIRE)) {
        items[0].events = (short)(ZMQ_POLLIN | (t->holding ? ZMQ_POLLOUT : 0));
        items[1].events = t->holding ? 0 : ZMQ_POLLIN;
        if (zapi.poll(items, 2, more_due ? 0 : POLL_MS) < 0) {
            error = failure();
            if (error == EINTR) {
                error = 0;
                continue;
            }
            break;
        }
        if ((items[0].revents & ZMQ_POLLIN) && (error = replies(t, frontend, backend)) != 0)
            break;
        if (t->holding && (items[0].revents & ZMQ_POLLOUT) && (error = send_held(t, backend)))
            break;
        if (!t->holding && (items[1].revents & ZMQ_POLLIN)
            && (error = requests(t, frontend, backend)) != 0)
            break;
        zparts_trim(&t->parts, ZPARTS_ROOM_KEPT);
        int64_t now = monotonic_ns();
        if (more_due || now >= next_expiry) {
            next_expiry = now + every;
            more_due = expire(t, now);
        }
    }
    zparts_free(&t->parts);
    zparts_free(&t->held);
    t->holding = 0;
    return error;
}

/* --- the Python type -------------------------------------------------------------------- */

static PyObject *steal_tuple(Py_ssize_t n, PyObject **items)
{
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL)
            goto fail;
    tuple = PyTuple_New(n);
    if (tuple == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* (frames, sizes, frame_count, size, tail): `Kept`'s fields in order. */
static PyObject *body_tuple(const body *b)
{
    PyObject *frames = PyTuple_New(b->kept), *sizes = PyTuple_New(b->kept);
    if (frames == NULL || sizes == NULL)
        goto fail;
    const unsigned char *in = b->data;
    for (int i = 0; i < b->kept; i++) {
        PyObject *frame = PyBytes_FromStringAndSize((const char *)in, (Py_ssize_t)b->lens[i]);
        PyObject *size = PyLong_FromSize_t(b->sizes[i]);
        if (frame == NULL || size == NULL) {
            Py_XDECREF(frame);
            Py_XDECREF(size);
            goto fail;
        }
        PyTuple_SET_ITEM(frames, i, frame);
        PyTuple_SET_ITEM(sizes, i, size);
        in += b->lens[i];
    }
    PyObject *items[] = {
        frames,
        sizes,
        PyLong_FromSize_t(b->frame_count),
        PyLong_FromUnsignedLongLong(b->size),
        PyBytes_FromStringAndSize((const char *)in, (Py_ssize_t)b->tail_len),
    };
    return steal_tuple(5, items);
fail:
    Py_XDECREF(frames);
    Py_XDECREF(sizes);
    return NULL;
}

/* (sent_ms, client, request, reply, latency_ms, why) */
static PyObject *record_tuple(TapLoop *t, const record *r)
{
    static const char *whys[] = {[TIMEOUT] = "timeout", [EVICTED] = "evicted"};
    PyObject *items[] = {
        PyFloat_FromDouble(t->wall_offset_ms + (double)r->sent_ns / 1e6),
        PyBytes_FromStringAndSize((const char *)r->client, (Py_ssize_t)r->client_len),
        body_tuple(r->request),
        r->reply ? body_tuple(r->reply) : Py_NewRef(Py_None),
        r->why == PAIRED ? PyFloat_FromDouble((double)r->latency_ns / 1e6) : Py_NewRef(Py_None),
        r->why == PAIRED ? Py_NewRef(Py_None) : PyUnicode_FromString(whys[r->why]),
    };
    return steal_tuple(6, items);
}

static PyObject *tap_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"prefix", "kept_bytes", "kept_frames", "tail_bytes",
                               "timeout_ms", "max_pending", "max_queued", NULL};
    const char *prefix;
    Py_ssize_t prefix_len, kept_bytes, tail_bytes, max_pending, max_queued;
    int kept_frames;
    long long timeout_ms;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y#ninLnn:TapLoop", keywords, &prefix,
                                     &prefix_len, &kept_bytes, &kept_frames, &tail_bytes,
                                     &timeout_ms, &max_pending, &max_queued))
        return NULL;
    if (zapi_require() != 0)
        return NULL;
    if (prefix_len != MARKER_PREFIX_BYTES || kept_bytes < 1 || kept_bytes > MAX_KEPT_BYTES
        || tail_bytes < 0 || tail_bytes > MAX_KEPT_BYTES
        || kept_frames < 1 || kept_frames > MAX_KEPT_FRAMES || timeout_ms < 1
        || max_pending < 1 || max_queued < 1) {
        PyErr_Format(PyExc_ValueError,
                     "TapLoop needs a %d-byte prefix, 1 to %d kept frames, kept and tail bytes "
                     "up to %d, and positive limits",
                     MARKER_PREFIX_BYTES, MAX_KEPT_FRAMES, MAX_KEPT_BYTES);
        return NULL;
    }
    TapLoop *t = (TapLoop *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    memcpy(t->prefix, prefix, MARKER_PREFIX_BYTES);
    t->kept_bytes = (size_t)kept_bytes;
    t->kept_frames = kept_frames;
    t->tail_bytes = (size_t)tail_bytes;
    t->timeout_ns = timeout_ms > INT64_MAX / 1000000 ? INT64_MAX : timeout_ms * 1000000;
    t->max_pending = (size_t)max_pending;
    t->max_queued = (size_t)max_queued;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    t->wall_offset_ms = (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6
                        - (double)monotonic_ns() / 1e6;
    pthread_mutex_init(&t->lock, NULL);
    t->slots = calloc(FIRST_SLOTS, sizeof(slot));
    if (t->slots == NULL) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    t->mask = FIRST_SLOTS - 1;
    return (PyObject *)t;
}

static void tap_dealloc(TapLoop *t)
{
    for (record *r = t->oldest, *next; r != NULL; r = next) {
        next = r->newer;
        record_free(r);
    }
    for (size_t i = 0; i < t->ring_count; i++)
        record_free(t->ring[(t->ring_head + i) % t->ring_capacity]);
    free(t->ring);
    free(t->slots);
    zparts_free(&t->parts);
    zparts_free(&t->held);
    pthread_mutex_destroy(&t->lock);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *tap_run(TapLoop *t, PyObject *args)
{
    PyObject *frontend_address, *backend_address;
    if (!PyArg_ParseTuple(args, "OO:run", &frontend_address, &backend_address))
        return NULL;
    void *frontend = PyLong_AsVoidPtr(frontend_address);
    void *backend = PyLong_AsVoidPtr(backend_address);
    if (PyErr_Occurred())
        return NULL;
    if (frontend == NULL || backend == NULL || t->started) {
        PyErr_SetString(PyExc_ValueError, "run takes two sockets' addresses, and runs once");
        return NULL;
    }
    t->started = 1;
    int error;
    Py_BEGIN_ALLOW_THREADS
    error = forward(t, frontend, backend);
    Py_END_ALLOW_THREADS
    if (error) {
        PyObject *value = Py_BuildValue("(is)", error, zapi.strerror(error));
        if (value != NULL) {
            PyErr_SetObject(PyExc_OSError, value);
            Py_DECREF(value);
        }
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *tap_stop(TapLoop *t, PyObject *unused UNUSED)
{
    __atomic_store_n(&t->stopping, 1, __ATOMIC_RELEASE);
    Py_RETURN_NONE;
}

static PyObject *tap_drain(TapLoop *t, PyObject *arg)
{
    Py_ssize_t limit = PyLong_AsSsize_t(arg);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    record **taken = NULL;
    size_t count;
    pthread_mutex_lock(&t->lock);
    count = limit < 0 ? t->ring_count : smaller(t->ring_count, (size_t)limit);
    if (count) {
        taken = malloc(count * sizeof(record *));
        if (taken == NULL) {
            pthread_mutex_unlock(&t->lock);
            return PyErr_NoMemory();
        }
        for (size_t i = 0; i < count; i++)
            taken[i] = t->ring[(t->ring_head + i) % t->ring_capacity];
        t->ring_head = (t->ring_head + count) % t->ring_capacity;
        t->ring_count -= count;
    }
    pthread_mutex_unlock(&t->lock);
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; i < count; i++) {
        if (list != NULL) {
            PyObject *item = record_tuple(t, taken[i]);
            if (item == NULL)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, (Py_ssize_t)i, item);
        }
        record_free(taken[i]);
    }
    free(taken);
    return list;
}

static PyObject *tap_counts(TapLoop *t, PyObject *unused UNUSED)
{
    return Py_BuildValue("(KKKKKKKK)", (unsigned long long)READ(t->requests),
                         (unsigned long long)READ(t->pairs), (unsigned long long)READ(t->timeouts),
                         (unsigned long long)READ(t->evicted), (unsigned long long)READ(t->late),
                         (unsigned long long)READ(t->unmatched), (unsigned long long)READ(t->lost),
                         (unsigned long long)READ(t->pending));
}

static PyMethodDef tap_methods[] = {
    {"run", (PyCFunction)tap_run, METH_VARARGS,
     "run(frontend, backend): forward between a ROUTER and a DEALER (their addresses) until "
     "stop(); raises OSError if a socket fails for good."},
    {"stop", (PyCFunction)tap_stop, METH_NOARGS, "Make run() return (within its poll interval)."},
    {"drain", (PyCFunction)tap_drain, METH_O,
     "drain(limit): finished records, oldest first, at most limit (all if negative): "
     "(sent_ms, client, request, reply, latency_ms, why), each body as (frames, sizes, "
     "frame_count, size, tail)."},
    {"counts", (PyCFunction)tap_counts, METH_NOARGS,
     "(requests, pairs, timeouts, evicted, late, unmatched, lost, pending)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TapLoopType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqtui.native._loops.TapLoop",
    .tp_doc = "The tap's forwarding loop: TapLoop(*, prefix, kept_bytes, kept_frames, "
              "tail_bytes, timeout_ms, max_pending, max_queued).",
    .tp_basicsize = sizeof(TapLoop),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = tap_new,
    .tp_dealloc = (destructor)tap_dealloc,
    .tp_methods = tap_methods,
};

int tap_register(PyObject *module)
{
    if (PyType_Ready(&TapLoopType) < 0)
        return -1;
    return PyModule_AddType(module, &TapLoopType);
}
