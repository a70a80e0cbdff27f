#include "runtime.h"
const char test_name[] = "hello";
void test_main(void) { check_eq("x", 1, 1); }
