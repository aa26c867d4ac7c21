/* zmqtui.native._loops: forwarding loops in C over sockets pyzmq made.
 *
 * `bind(resolve)` must be called once before anything else: it fills the libzmq table
 * (zmqapi.h) with `resolve(name)`, the address of each function in pyzmq's libzmq.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "lb.h"
#include "tap.h"
#include "zmqapi.h"

struct zapi_entry {
    const char *name;
    void **slot;
};

#define ENTRY(member) {"zmq_" #member, (void **)&zapi.member}

static const struct zapi_entry zapi_entries[] = {
    ENTRY(version),
    {"zmq_errno", (void **)&zapi.errno_},
    ENTRY(strerror),
    ENTRY(msg_init),
    ENTRY(msg_init_data),
    ENTRY(msg_close),
    ENTRY(msg_copy),
    ENTRY(msg_move),
    ENTRY(msg_data),
    ENTRY(msg_size),
    ENTRY(msg_more),
    ENTRY(msg_send),
    ENTRY(msg_recv),
    ENTRY(send),
    ENTRY(poll),
};

static PyObject *bind_libzmq(PyObject *module UNUSED, PyObject *resolve)
{
    size_t count = sizeof(zapi_entries) / sizeof(zapi_entries[0]);
    for (size_t i = 0; i < count; i++) {
        PyObject *address = PyObject_CallFunction(resolve, "s", zapi_entries[i].name);
        if (address == NULL)
            return NULL;
        void *pointer = PyLong_AsVoidPtr(address);
        Py_DECREF(address);
        if (pointer == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ImportError, "libzmq has no %s", zapi_entries[i].name);
            return NULL;
        }
        *zapi_entries[i].slot = pointer;
    }
    zapi_bound = 1;
    Py_RETURN_NONE;
}

static PyObject *libzmq_version(PyObject *module UNUSED, PyObject *unused UNUSED)
{
    if (!zapi_bound) {
        PyErr_SetString(PyExc_RuntimeError, "libzmq is not bound yet");
        return NULL;
    }
    int major, minor, patch;
    zapi.version(&major, &minor, &patch);
    return Py_BuildValue("(iii)", major, minor, patch);
}

static PyMethodDef loops_methods[] = {
    {"bind", bind_libzmq, METH_O, "Fill the libzmq table: resolve(name) -> address."},
    {"libzmq_version", libzmq_version, METH_NOARGS, "The bound libzmq's (major, minor, patch)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef loops_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_loops",
    .m_doc = "Forwarding loops in C over pyzmq's sockets.",
    .m_size = -1,
    .m_methods = loops_methods,
};

PyMODINIT_FUNC PyInit__loops(void)
{
    PyObject *module = PyModule_Create(&loops_module);
    if (module != NULL && (tap_register(module) < 0 || lb_register(module) < 0))
        Py_CLEAR(module);
    return module;
}
