/* fault.c - deciding which store call fails */
#include <stddef.h>

#include "core/fault.h"

bool mlogi_fault_hit(mlogi_faults *f, mlogi_fault_site site) {
  if (f == NULL || site >= MLOGI_FAULT_SITES)
    return false;
  uint64_t n = ++f->calls[site];
  if (site != f->site || f->nth == 0)
    return false;
  bool hit = f->persistent ? n >= f->nth : n == f->nth;
  if (hit)
    f->injected++;
  return hit;
}
