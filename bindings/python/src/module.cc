// kos._core: the native half of the kos Python package.
#include "common.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "Native bindings of libkos. Use the `kos` package, which re-exports these.";
  kos_py::RegisterErrors(m);
  kos_py::BindCommon(m);
  kos_py::BindStore(m);
  kos_py::BindCrypto(m);
  kos_py::BindSignedTask(m);
  kos_py::BindVault(m);
  kos_py::BindAuth(m);
  kos_py::BindMemory(m);
  kos_py::BindPrompt(m);
  kos_py::BindOrchestrator(m);
  m.attr("__version__") = "0.1.0";
}
