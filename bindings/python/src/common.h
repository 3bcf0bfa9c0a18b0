// Shared pieces of the kos._core bindings: status -> exception mapping, JSON
// and time conversion, and the owning "boxes" that keep every C++ object and
// the objects it borrows (Store, Clock, ...) alive together.
//
// Lifetime rule: a Python handle holds a std::shared_ptr to its box; every
// method copies that shared_ptr (with the GIL held) before releasing the GIL,
// so close() from another thread only drops a reference and the C++ object
// dies when the last call running on it returns.
#ifndef KOS_BINDINGS_PYTHON_COMMON_H_
#define KOS_BINDINGS_PYTHON_COMMON_H_

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kos/clock.h"
#include "kos/json.h"
#include "kos/store.h"

namespace kos_py {

namespace py = pybind11;

// ---- errors

// Creates kos._core.Error and one subclass per absl status code.
void RegisterErrors(py::module_& m);
// Raises the exception class of `status.code()` (status must not be OK).
[[noreturn]] void ThrowStatus(const absl::Status& status);
inline void Check(const absl::Status& status) {
  if (!status.ok()) ThrowStatus(status);
}
template <typename T>
T Unwrap(absl::StatusOr<T>&& v) {
  if (!v.ok()) ThrowStatus(v.status());
  return *std::move(v);
}
// The status a Python exception stands for: kos.Error subclasses keep their
// code, ValueError/TypeError become INVALID_ARGUMENT, anything else UNKNOWN.
// Must be called with the GIL held.
absl::Status StatusFromPython(const py::error_already_set& e);
[[noreturn]] void ThrowClosed(const char* what);

// Runs `f` with the GIL released.
template <typename F>
auto NoGil(F&& f) {
  py::gil_scoped_release release;
  return f();
}

// ---- JSON and time

// dict/list/tuple/str/int/float/bool/None -> Json. TypeError for other types,
// ValueError for non-finite floats and integers outside 64 bits.
kos::Json ToJson(py::handle obj);
py::object FromJson(const kos::Json& j);

// Unix seconds as float; None for infinite past/future.
py::object TimeToPy(absl::Time t);
absl::Time TimeFromSeconds(double seconds);
absl::Duration Seconds(double seconds);
std::optional<absl::Duration> OptSeconds(const std::optional<double>& seconds);

// ---- shared handles

struct PyClock {
  std::shared_ptr<kos::Clock> clock;
  kos::FakeClock* fake = nullptr;  // set when `clock` is a FakeClock
};

// The clock of an optional Python Clock argument (default: the real clock).
std::shared_ptr<kos::Clock> ClockOrReal(const std::optional<PyClock>& clock);

struct StoreBox {
  std::shared_ptr<kos::Clock> clock;  // declared first: destroyed last
  std::unique_ptr<kos::Store> store;
  std::string uri;
};

// A Python handle to an object of type Box.
template <typename Box>
struct Handle {
  std::shared_ptr<Box> box;
  const char* what = "object";
  std::shared_ptr<Box> get() const {
    if (!box) ThrowClosed(what);
    return box;
  }
};

using PyStore = Handle<StoreBox>;

// Binds __enter__ / __exit__ / close / closed on a Handle-derived class.
template <typename Class>
void BindContextManager(Class& cls) {
  using T = typename Class::type;
  cls.def(
         "close",
         [](T& self) {
           auto box = std::move(self.box);
           // The destructor may wait for C++ threads that need the GIL.
           py::gil_scoped_release release;
           box.reset();
         },
         "Releases the native object. Further calls raise FailedPreconditionError.")
      .def_property_readonly("closed", [](const T& self) { return !self.box; })
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](T& self, py::object, py::object, py::object) {
        auto box = std::move(self.box);
        py::gil_scoped_release release;
        box.reset();
        return false;
      });
}

void BindCommon(py::module_& m);
void BindStore(py::module_& m);
void BindCrypto(py::module_& m);
void BindSignedTask(py::module_& m);
void BindVault(py::module_& m);
void BindAuth(py::module_& m);
void BindMemory(py::module_& m);
void BindPrompt(py::module_& m);
void BindOrchestrator(py::module_& m);

}  // namespace kos_py

#endif  // KOS_BINDINGS_PYTHON_COMMON_H_
