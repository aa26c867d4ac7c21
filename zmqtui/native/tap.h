/* The tap's forwarding loop (tap.c): the `TapLoop` type of zmqtui.native._loops. */
#ifndef ZMQTUI_TAP_H
#define ZMQTUI_TAP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Add `TapLoop` to the module; 0, or -1 with an exception set. */
int tap_register(PyObject *module);

#endif
