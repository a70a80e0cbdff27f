#ifndef EMU_CZLIB_SHIM_H
#define EMU_CZLIB_SHIM_H
#include <zlib.h>
#endif
