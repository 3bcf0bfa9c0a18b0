/* Compiled as strict C89 (-std=c89 -pedantic-errors): proves include/kos/c.h
 * is usable from old C compilers, not just C99. */
#include "kos/c.h"

int kos_c89_header_check(void);

int kos_c89_header_check(void) {
  kos_code_t code = KOS_OK;
  kos_handler_fn fn = 0;
  return fn == 0 ? (int)code : -1;
}
