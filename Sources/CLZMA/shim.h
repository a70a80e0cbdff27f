#ifndef EMU_CLZMA_SHIM_H
#define EMU_CLZMA_SHIM_H
#include <lzma.h>
#endif
