#include "common.h"

#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kos_py {
namespace {

struct ErrorClass {
  absl::StatusCode code;
  const char* name;
  const char* doc;
};

// Every code except OK, with the class name Python users catch.
const ErrorClass kErrorClasses[] = {
    {absl::StatusCode::kCancelled, "CancelledError", "The operation was cancelled."},
    {absl::StatusCode::kUnknown, "UnknownError", "An error of unknown kind."},
    {absl::StatusCode::kInvalidArgument, "InvalidArgumentError",
     "Bad input: the request is wrong whatever the state of the system."},
    {absl::StatusCode::kDeadlineExceeded, "DeadlineExceededError",
     "A deadline or timeout passed before the operation finished."},
    {absl::StatusCode::kNotFound, "NotFoundError", "The named object does not exist."},
    {absl::StatusCode::kAlreadyExists, "AlreadyExistsError", "The object already exists."},
    {absl::StatusCode::kPermissionDenied, "PermissionDeniedError",
     "The caller is known but not allowed to do this."},
    {absl::StatusCode::kResourceExhausted, "ResourceExhaustedError",
     "A limit was hit (rate limit, lockout, size)."},
    {absl::StatusCode::kFailedPrecondition, "FailedPreconditionError",
     "The system is not in the state the operation needs (e.g. a compare-and-set conflict)."},
    {absl::StatusCode::kAborted, "AbortedError", "The operation was aborted (e.g. lost a race)."},
    {absl::StatusCode::kOutOfRange, "OutOfRangeError", "A position outside the valid range."},
    {absl::StatusCode::kUnimplemented, "UnimplementedError", "Not implemented or not supported."},
    {absl::StatusCode::kInternal, "InternalError", "An internal invariant broke."},
    {absl::StatusCode::kUnavailable, "UnavailableError",
     "A dependency is unavailable; retrying may help."},
    {absl::StatusCode::kDataLoss, "DataLossError", "Stored data is corrupt or lost."},
    {absl::StatusCode::kUnauthenticated, "UnauthenticatedError",
     "Missing or invalid credentials, signature or token."},
};

// Borrowed for the life of the process: the module is never unloaded, and
// releasing these at interpreter exit would race with late exceptions.
PyObject* g_base_error = nullptr;
PyObject* g_error_by_code[32] = {};

}  // namespace

void RegisterErrors(py::module_& m) {
  g_base_error = PyErr_NewExceptionWithDoc(
      "kos._core.Error",
      "Base class of every libkos error. `code` is the status code name (e.g. 'NOT_FOUND'), "
      "`numeric_code` its gRPC number.",
      PyExc_Exception, nullptr);
  Py_INCREF(g_base_error);
  PyObject_SetAttrString(g_base_error, "code", py::str("UNKNOWN").ptr());
  PyObject_SetAttrString(g_base_error, "numeric_code", py::int_(2).ptr());
  m.add_object("Error", py::handle(g_base_error));
  for (const ErrorClass& e : kErrorClasses) {
    std::string qualified = absl::StrCat("kos._core.", e.name);
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), e.doc, g_base_error, nullptr);
    Py_INCREF(cls);
    PyObject_SetAttrString(cls, "code", py::str(absl::StatusCodeToString(e.code)).ptr());
    PyObject_SetAttrString(cls, "numeric_code", py::int_(static_cast<int>(e.code)).ptr());
    g_error_by_code[static_cast<int>(e.code)] = cls;
    m.add_object(e.name, py::handle(cls));
  }
}

void ThrowStatus(const absl::Status& status) {
  int code = static_cast<int>(status.code());
  PyObject* cls =
      (code > 0 && code < 32 && g_error_by_code[code]) ? g_error_by_code[code] : g_base_error;
  PyErr_SetString(cls, std::string(status.message()).c_str());
  throw py::error_already_set();
}

void ThrowClosed(const char* what) {
  ThrowStatus(absl::FailedPreconditionError(absl::StrCat(what, " is closed")));
}

absl::Status StatusFromPython(const py::error_already_set& e) {
  std::string message = py::str(e.value());
  std::string type = py::str(e.type().attr("__name__"));
  if (g_base_error && PyObject_IsSubclass(e.type().ptr(), g_base_error) == 1) {
    int code = py::int_(e.type().attr("numeric_code"));
    if (code <= 0 || code > 16) code = static_cast<int>(absl::StatusCode::kUnknown);
    return absl::Status(static_cast<absl::StatusCode>(code), message);
  }
  if (e.matches(PyExc_ValueError) || e.matches(PyExc_TypeError) || e.matches(PyExc_KeyError)) {
    return absl::InvalidArgumentError(absl::StrCat(type, ": ", message));
  }
  if (e.matches(PyExc_TimeoutError)) {
    return absl::DeadlineExceededError(absl::StrCat(type, ": ", message));
  }
  return absl::UnknownError(absl::StrCat(type, ": ", message));
}

kos::Json ToJson(py::handle obj) {
  if (obj.is_none()) return nullptr;
  if (PyBool_Check(obj.ptr())) return obj.cast<bool>();
  if (PyLong_Check(obj.ptr())) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
    if (overflow == 0) return static_cast<int64_t>(v);
    if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(obj.ptr());
      if (!PyErr_Occurred()) return static_cast<uint64_t>(u);
      PyErr_Clear();
    }
    throw py::value_error("integer does not fit in 64 bits");
  }
  if (PyFloat_Check(obj.ptr())) {
    double d = obj.cast<double>();
    if (!std::isfinite(d)) throw py::value_error("JSON has no NaN or infinity");
    return d;
  }
  if (PyUnicode_Check(obj.ptr())) return obj.cast<std::string>();
  if (PyDict_Check(obj.ptr())) {
    kos::Json out = kos::Json::object();
    for (auto item : py::reinterpret_borrow<py::dict>(obj)) {
      if (!PyUnicode_Check(item.first.ptr())) {
        throw py::type_error("JSON object keys must be str");
      }
      out[item.first.cast<std::string>()] = ToJson(item.second);
    }
    return out;
  }
  if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
    kos::Json out = kos::Json::array();
    for (auto item : py::reinterpret_borrow<py::sequence>(obj)) out.push_back(ToJson(item));
    return out;
  }
  throw py::type_error(absl::StrCat(
      "cannot convert ", std::string(py::str(obj.get_type().attr("__name__"))), " to JSON"));
}

py::object FromJson(const kos::Json& j) {
  switch (j.type()) {
    case kos::Json::value_t::null:
    case kos::Json::value_t::discarded:
      return py::none();
    case kos::Json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case kos::Json::value_t::number_integer:
      return py::int_(j.get<int64_t>());
    case kos::Json::value_t::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case kos::Json::value_t::number_float:
      return py::float_(j.get<double>());
    case kos::Json::value_t::string:
      return py::str(j.get_ref<const std::string&>());
    case kos::Json::value_t::array: {
      py::list out;
      for (const auto& v : j) out.append(FromJson(v));
      return std::move(out);
    }
    case kos::Json::value_t::object: {
      py::dict out;
      for (auto it = j.begin(); it != j.end(); ++it) out[py::str(it.key())] = FromJson(it.value());
      return std::move(out);
    }
    case kos::Json::value_t::binary:
      break;
  }
  return py::none();
}

py::object TimeToPy(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return py::none();
  return py::float_(absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

absl::Time TimeFromSeconds(double seconds) {
  if (!std::isfinite(seconds)) throw py::value_error("time must be finite");
  return absl::UnixEpoch() + absl::Seconds(seconds);
}

absl::Duration Seconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    throw py::value_error("a duration must be a finite number of seconds >= 0");
  }
  return absl::Seconds(seconds);
}

std::optional<absl::Duration> OptSeconds(const std::optional<double>& seconds) {
  if (!seconds) return std::nullopt;
  return Seconds(*seconds);
}

std::shared_ptr<kos::Clock> ClockOrReal(const std::optional<PyClock>& clock) {
  if (clock && clock->clock) return clock->clock;
  // The real clock is a process-wide object that is never destroyed.
  return std::shared_ptr<kos::Clock>(kos::Clock::Real(), [](kos::Clock*) {});
}

void BindCommon(py::module_& m) {
  py::class_<PyClock>(m, "Clock",
                      "A time source. Clock.real() is the wall clock; Clock.fake() only moves "
                      "when advanced, for testing TTLs without sleeping. Thread-safe.")
      .def_static(
          "real",
          [] {
            return PyClock{ClockOrReal(std::nullopt), nullptr};
          },
          "The wall clock.")
      .def_static(
          "fake",
          [](double start) {
            auto fake = std::make_shared<kos::FakeClock>(TimeFromSeconds(start));
            PyClock c;
            c.fake = fake.get();
            c.clock = std::move(fake);
            return c;
          },
          py::arg("start") = 1700000000.0,
          "A clock that starts at `start` (Unix seconds) and moves only with advance()/set().")
      .def(
          "now",
          [](const PyClock& c) {
            return absl::ToDoubleSeconds(c.clock->Now() - absl::UnixEpoch());
          },
          "Current time in Unix seconds.")
      .def_property_readonly("is_fake", [](const PyClock& c) { return c.fake != nullptr; })
      .def(
          "advance",
          [](PyClock& c, double seconds) {
            if (!c.fake) Check(absl::FailedPreconditionError("advance() needs a fake clock"));
            c.fake->Advance(absl::Seconds(seconds));
          },
          py::arg("seconds"), "Moves a fake clock forward.")
      .def(
          "set",
          [](PyClock& c, double t) {
            if (!c.fake) Check(absl::FailedPreconditionError("set() needs a fake clock"));
            c.fake->Set(TimeFromSeconds(t));
          },
          py::arg("unix_seconds"), "Sets a fake clock.");
}

}  // namespace kos_py
