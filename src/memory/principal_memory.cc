// Permission-checked Memory operations (see PrincipalMemory in kos/memory.h).
#include "absl/strings/str_cat.h"
#include "kos/memory.h"
#include "kos/status.h"

namespace kos {

absl::Status PrincipalMemory::Check(absl::string_view ns, absl::string_view action) const {
  const AccessController* ac = memory_->options_.access;
  if (ac == nullptr) {
    return absl::FailedPreconditionError(
        "Memory::As() needs MemoryOptions.access (an AccessController)");
  }
  // A malformed name would otherwise surface as a malformed resource.
  KOS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  return ac->CheckWithRoles(principal_.subject, principal_.roles, absl::StrCat("memory:ns/", ns),
                            action);
}

absl::Status PrincipalMemory::CreateNamespace(const NamespaceConfig& config) {
  KOS_RETURN_IF_ERROR(Check(config.name, "write"));
  return memory_->CreateNamespace(config);
}

absl::StatusOr<NamespaceConfig> PrincipalMemory::GetNamespace(absl::string_view name) const {
  KOS_RETURN_IF_ERROR(Check(name, "read"));
  return memory_->GetNamespace(name);
}

absl::StatusOr<std::vector<std::string>> PrincipalMemory::ListNamespaces(
    absl::string_view prefix) const {
  const AccessController* ac = memory_->options_.access;
  if (ac == nullptr) {
    return absl::FailedPreconditionError(
        "Memory::As() needs MemoryOptions.access (an AccessController)");
  }
  KOS_RETURN_IF_ERROR(ValidateSubject(principal_.subject));
  std::vector<std::string> out;
  for (auto& name : memory_->ListNamespaces(prefix)) {
    // Explain is not audited: listing must not log one decision per namespace.
    auto d = ac->ExplainWithRoles(principal_.subject, principal_.roles,
                                  absl::StrCat("memory:ns/", name), "read");
    if (d.ok() && d->allowed()) out.push_back(std::move(name));
  }
  return out;
}

absl::Status PrincipalMemory::DeleteNamespace(absl::string_view name) {
  KOS_RETURN_IF_ERROR(Check(name, "write"));
  return memory_->DeleteNamespace(name);
}

absl::StatusOr<std::string> PrincipalMemory::Add(absl::string_view ns, MemoryRecord record) {
  KOS_RETURN_IF_ERROR(Check(ns, "write"));
  return memory_->Add(ns, std::move(record));
}

absl::StatusOr<std::vector<std::string>> PrincipalMemory::AddBatch(
    absl::string_view ns, std::vector<MemoryRecord> records) {
  KOS_RETURN_IF_ERROR(Check(ns, "write"));
  return memory_->AddBatch(ns, std::move(records));
}

absl::StatusOr<MemoryRecord> PrincipalMemory::Get(absl::string_view ns,
                                                  absl::string_view id) const {
  KOS_RETURN_IF_ERROR(Check(ns, "read"));
  return memory_->Get(ns, id);
}

absl::Status PrincipalMemory::Update(absl::string_view ns, MemoryRecord record) {
  KOS_RETURN_IF_ERROR(Check(ns, "write"));
  return memory_->Update(ns, std::move(record));
}

absl::Status PrincipalMemory::Delete(absl::string_view ns, absl::string_view id) {
  KOS_RETURN_IF_ERROR(Check(ns, "write"));
  return memory_->Delete(ns, id);
}

absl::StatusOr<ListPage> PrincipalMemory::List(absl::string_view ns, absl::string_view page_token,
                                               size_t limit) const {
  KOS_RETURN_IF_ERROR(Check(ns, "read"));
  return memory_->List(ns, page_token, limit);
}

absl::StatusOr<std::vector<SearchHit>> PrincipalMemory::Search(const SearchRequest& req) const {
  KOS_RETURN_IF_ERROR(Check(req.ns, "read"));
  return memory_->Search(req);
}

absl::StatusOr<std::vector<SearchHit>> PrincipalMemory::Recall(const SearchRequest& req,
                                                               const RecallOptions& options) {
  KOS_RETURN_IF_ERROR(Check(req.ns, "read"));
  return memory_->Recall(req, options);
}

absl::StatusOr<NamespaceStats> PrincipalMemory::Stats(absl::string_view ns) const {
  KOS_RETURN_IF_ERROR(Check(ns, "read"));
  return memory_->Stats(ns);
}

absl::Status PrincipalMemory::AddLink(absl::string_view ns, absl::string_view from,
                                      absl::string_view type, absl::string_view to) {
  KOS_RETURN_IF_ERROR(Check(ns, "write"));
  return memory_->AddLink(ns, from, type, to);
}

absl::Status PrincipalMemory::RemoveLink(absl::string_view ns, absl::string_view from,
                                         absl::string_view type, absl::string_view to) {
  KOS_RETURN_IF_ERROR(Check(ns, "write"));
  return memory_->RemoveLink(ns, from, type, to);
}

absl::StatusOr<std::vector<Link>> PrincipalMemory::Neighbours(absl::string_view ns,
                                                              absl::string_view id,
                                                              absl::string_view type,
                                                              LinkDirection direction) const {
  KOS_RETURN_IF_ERROR(Check(ns, "read"));
  return memory_->Neighbours(ns, id, type, direction);
}

absl::StatusOr<std::vector<LinkedRecord>> PrincipalMemory::KHop(absl::string_view ns,
                                                                absl::string_view id, int k,
                                                                size_t max_nodes,
                                                                absl::string_view type,
                                                                LinkDirection direction) const {
  KOS_RETURN_IF_ERROR(Check(ns, "read"));
  return memory_->KHop(ns, id, k, max_nodes, type, direction);
}

}  // namespace kos
