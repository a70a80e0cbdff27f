#ifndef EMU_CGLIB_SHIM_H
#define EMU_CGLIB_SHIM_H
#include <glib.h>
#include <glib-unix.h>
#endif
