/* The load-balancing broker's loop (lb.c): what module.c exposes of it. */
#ifndef ZMQTUI_LB_H
#define ZMQTUI_LB_H

#include <Python.h>

/* load_balancer(frontend, backend, control, *, max_credit, stack_service_s, stack_stall_s,
 * reply_budget, tracked_from, remembered_ignored) -> LoadBalancer */
PyObject *lb_load_balancer(PyObject *module, PyObject *args, PyObject *kwargs);
/* The names of the counters a STATISTICS answer carries, in its order. */
PyObject *lb_counter_names(PyObject *module, PyObject *unused);

#endif
