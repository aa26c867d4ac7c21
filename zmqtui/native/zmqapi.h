/* The part of libzmq's C API the native loops use, called through pointers bound at import.
 *
 * The loops drive sockets pyzmq made, so they must call the very copy of libzmq pyzmq loaded
 * (its wheels carry their own), and pyzmq's wheels do not ship zmq.h: the few types and
 * constants needed are declared here as libzmq 4.x's stable ABI defines them, and
 * `zapi_bind` (module.c) fills `zapi` with the addresses Python looks up in pyzmq's libzmq.
 */
#ifndef ZMQTUI_ZMQAPI_H
#define ZMQTUI_ZMQAPI_H

#include <stddef.h>

/* A parameter a signature must have but the function does not read (Python's METH_NOARGS). */
#define UNUSED __attribute__((unused))

typedef struct zmq_msg_t {
    unsigned char _[64] __attribute__((aligned(sizeof(void *))));
} zmq_msg_t;

typedef struct zmq_pollitem_t {
    void *socket;
    int fd;
    short events;
    short revents;
} zmq_pollitem_t;

typedef void(zmq_free_fn)(void *data, void *hint);

#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2
#define ZMQ_POLLIN 1
#define ZMQ_POLLOUT 2
#define ZMQ_RCVMORE 13
#define ZMQ_HAUSNUMERO 156384712
#define ZMQ_EFSM (ZMQ_HAUSNUMERO + 51)
#define ZMQ_ETERM (ZMQ_HAUSNUMERO + 53)

/* One member per libzmq function, named as the function without its `zmq_` prefix. */
struct zapi {
    void (*version)(int *major, int *minor, int *patch);
    int (*errno_)(void);
    const char *(*strerror)(int errnum);
    int (*msg_init)(zmq_msg_t *msg);
    int (*msg_init_data)(zmq_msg_t *msg, void *data, size_t size, zmq_free_fn *ffn, void *hint);
    int (*msg_close)(zmq_msg_t *msg);
    int (*msg_copy)(zmq_msg_t *dest, zmq_msg_t *src);
    int (*msg_move)(zmq_msg_t *dest, zmq_msg_t *src);
    void *(*msg_data)(zmq_msg_t *msg);
    size_t (*msg_size)(const zmq_msg_t *msg);
    int (*msg_more)(const zmq_msg_t *msg);
    int (*msg_send)(zmq_msg_t *msg, void *socket, int flags);
    int (*msg_recv)(zmq_msg_t *msg, void *socket, int flags);
    int (*send)(void *socket, const void *buf, size_t len, int flags);
    int (*poll)(zmq_pollitem_t *items, int nitems, long timeout);
};

extern struct zapi zapi;
/* Set once `zapi` is filled: until then no loop may be made. */
extern int zapi_bound;
/* 0 when `zapi` is filled, else -1 with a RuntimeError set (call it before making a loop). */
int zapi_require(void);

/* A multipart message as it is received: its frames in order, grown as needed. */
typedef struct zparts {
    zmq_msg_t *frames;
    int count;
    int capacity;
} zparts;

/* Receive one whole message into `parts` (emptied first); 0, or -1 with zapi.errno_() set.
 * Only a receive of its first frame can fail with EAGAIN: the rest have arrived with it.
 * ENOMEM: no room for its frames; the message is dropped whole (the next receive starts at the
 * next message). */
int zparts_recv(zparts *parts, void *socket, int flags);
/* Send frames [from, count) of `parts` (each then empty, as zmq_msg_send leaves it), the last
 * without ZMQ_SNDMORE unless `more`; 0, or -1 with zapi.errno_() set (the frames not sent
 * keep their content, so the caller can try another peer or close them). */
int zparts_send(zparts *parts, int from, void *socket, int flags, int more);
/* Close every frame; `parts` stays usable. */
void zparts_clear(zparts *parts);
/* Free the storage too. */
void zparts_free(zparts *parts);
/* Close every frame, and free the storage if it has room for more than `keep` frames (so one
 * message of many frames does not keep its array for good): ZPARTS_ROOM_KEPT, say. */
void zparts_trim(zparts *parts, int keep);
#define ZPARTS_ROOM_KEPT 64

#endif
