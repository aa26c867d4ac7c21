/* The bound libzmq API and the multipart helpers every loop shares. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "zmqapi.h"

#include <errno.h>
#include <stdlib.h>

struct zapi zapi;
int zapi_bound = 0;

int zapi_require(void)
{
    if (zapi_bound)
        return 0;
    PyErr_SetString(PyExc_RuntimeError,
                    "libzmq is not bound yet: import zmqtui.native, which binds it, not _loops");
    return -1;
}

static int zparts_reserve(zparts *parts, int needed)
{
    if (needed <= parts->capacity)
        return 0;
    int capacity = parts->capacity ? parts->capacity * 2 : 8;
    while (capacity < needed)
        capacity *= 2;
    zmq_msg_t *frames = realloc(parts->frames, (size_t)capacity * sizeof(zmq_msg_t));
    if (frames == NULL)
        return -1;
    parts->frames = frames;
    parts->capacity = capacity;
    return 0;
}

/* Receive and drop what is left of a message whose frames could not be kept, so that the
 * next receive starts at the next message. */
static void zparts_skip_rest(void *socket)
{
    zmq_msg_t frame;
    int more = 1;
    while (more) {
        zapi.msg_init(&frame);
        more = zapi.msg_recv(&frame, socket, ZMQ_DONTWAIT) >= 0 && zapi.msg_more(&frame);
        zapi.msg_close(&frame);
    }
}

int zparts_recv(zparts *parts, void *socket, int flags)
{
    zparts_clear(parts);
    for (;;) {
        if (zparts_reserve(parts, parts->count + 1) != 0) {
            if (parts->count > 0)
                zparts_skip_rest(socket);
            zparts_clear(parts);
            errno = ENOMEM;
            return -1;
        }
        zmq_msg_t *frame = &parts->frames[parts->count];
        zapi.msg_init(frame);
        if (zapi.msg_recv(frame, socket, flags) < 0) {
            zapi.msg_close(frame);
            /* Past the first frame a failure can only be the context ending: the frames
               taken so far are dropped with the message. */
            return -1;
        }
        parts->count++;
        if (!zapi.msg_more(frame))
            return 0;
    }
}

int zparts_send(zparts *parts, int from, void *socket, int flags, int more)
{
    for (int i = from; i < parts->count; i++) {
        int last = i == parts->count - 1;
        int frame_flags = flags | (last && !more ? 0 : ZMQ_SNDMORE);
        if (zapi.msg_send(&parts->frames[i], socket, frame_flags) < 0)
            return -1;
    }
    return 0;
}

void zparts_clear(zparts *parts)
{
    for (int i = 0; i < parts->count; i++)
        zapi.msg_close(&parts->frames[i]);
    parts->count = 0;
}

void zparts_trim(zparts *parts, int keep)
{
    if (parts->capacity > keep)
        zparts_free(parts);
    else
        zparts_clear(parts);
}

void zparts_free(zparts *parts)
{
    zparts_clear(parts);
    free(parts->frames);
    parts->frames = NULL;
    parts->capacity = 0;
}
