/* The load-balancing broker's loop (lb.c): what module.c exposes of it. */
#ifndef ZMQTUI_LB_H
#define ZMQTUI_LB_H

#include <Python.h>

/* Add the LoadBalancer type and LB_COUNTER_NAMES (the counters a STATISTICS answer carries,
 * in its order) to the module; 0, or -1 with an exception set. */
int lb_register(PyObject *module);

#endif
