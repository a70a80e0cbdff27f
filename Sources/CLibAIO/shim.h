#ifndef EMU_CLIBAIO_SHIM_H
#define EMU_CLIBAIO_SHIM_H
#include <libaio.h>
#endif
