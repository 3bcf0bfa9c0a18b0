// The owning boxes behind each Python handle. Members are declared in
// dependency order, so the object that borrows is destroyed before what it
// borrows.
#ifndef KOS_BINDINGS_PYTHON_HANDLES_H_
#define KOS_BINDINGS_PYTHON_HANDLES_H_

#include <memory>
#include <string>

#include "common.h"
#include "kos/rbac.h"
#include "kos/signed_task.h"

namespace kos_py {

struct KeyRegistryBox {
  std::shared_ptr<StoreBox> store;
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::KeyRegistry> keys;
};
using PyKeyRegistry = Handle<KeyRegistryBox>;

struct TaskSignerBox {
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::TaskSigner> signer;
};
using PyTaskSigner = Handle<TaskSignerBox>;

struct TaskVerifierBox {
  std::shared_ptr<KeyRegistryBox> keys;
  std::shared_ptr<StoreBox> nonce_store;
  std::shared_ptr<kos::Clock> clock;
  std::unique_ptr<kos::TaskVerifier> verifier;
};
using PyTaskVerifier = Handle<TaskVerifierBox>;

struct AccessControllerBox {
  std::unique_ptr<kos::AccessController> access;
};
using PyAccessController = Handle<AccessControllerBox>;

}  // namespace kos_py

#endif  // KOS_BINDINGS_PYTHON_HANDLES_H_
