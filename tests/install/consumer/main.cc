// Uses only installed headers and the installed library.
#include <cstdio>

#include "kos/id.h"
#include "kos/store.h"

int main() {
  auto store = kos::OpenStore("memory:");
  if (!store.ok()) return 1;
  auto put = (*store)->Put("notes", "greeting", "hello from an installed libkos");
  if (!put.ok()) return 2;
  auto rec = (*store)->Get("notes", "greeting");
  if (!rec.ok()) return 3;
  if (!kos::IsValidId(kos::NewId())) return 4;
  std::printf("%s (version %llu)\n", rec->value.c_str(),
              static_cast<unsigned long long>(rec->version));
  return 0;
}
