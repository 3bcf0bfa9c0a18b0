// kos.v1.Memory over kos::Memory, after the RBAC check of
// "memory:ns/<namespace>" read/write. (Memory::As would check too, but the
// Kernel's Memory is opened without an AccessController, so the gate does.)
#include "absl/strings/str_cat.h"
#include "grpc/services.h"
#include "kos/json.h"
#include "kos/status.h"
#include "kos/v1/memory.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

absl::StatusOr<SearchRequest> ToSearch(const pb::SearchMemoryRequest& r) {
  SearchRequest s;
  s.ns = r.ns();
  s.text = r.text();
  s.vector.assign(r.vector().begin(), r.vector().end());
  s.k = r.k() == 0 ? 10 : r.k();
  s.hybrid = r.hybrid();
  if (!r.filter_json().empty()) {
    KOS_ASSIGN_OR_RETURN(s.filter, ParseJson(r.filter_json()));
    if (!s.filter.is_object())
      return absl::InvalidArgumentError("filter_json must be a JSON object");
  }
  return s;
}

void FillHits(const std::vector<SearchHit>& hits, pb::SearchMemoryResponse* out) {
  for (const SearchHit& h : hits) {
    auto* p = out->add_hits();
    p->set_id(h.record.id);
    p->set_text(h.record.text);
    p->set_metadata_json(DumpJson(h.record.metadata));
    p->set_score(h.score);
    p->set_similarity(h.similarity);
    p->set_importance(h.record.importance);
  }
}

class MemoryService final : public pb::Memory::Service {
 public:
  explicit MemoryService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::Status CreateNamespace(grpc::ServerContext* ctx, const pb::CreateNamespaceRequest* req,
                               pb::CreateNamespaceResponse*) override {
    return Serve([&]() -> absl::Status {
      KOS_RETURN_IF_ERROR(Authorize(ctx, req->name(), "write"));
      NamespaceConfig nc;
      nc.name = req->name();
      nc.dimension = req->dimension();
      const std::string& m = req->metric();
      if (m.empty() || m == "cosine") {
        nc.metric = Metric::kCosine;
      } else if (m == "ip") {
        nc.metric = Metric::kInnerProduct;
      } else if (m == "l2") {
        nc.metric = Metric::kL2;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("metric must be cosine, ip or l2, not '", m.substr(0, 32), "'"));
      }
      if (req->default_ttl_seconds() < 0) {
        return absl::InvalidArgumentError("default_ttl_seconds must be >= 0");
      }
      nc.default_ttl = absl::Seconds(req->default_ttl_seconds());
      return k_->memory()->CreateNamespace(nc);
    });
  }

  grpc::Status Add(grpc::ServerContext* ctx, const pb::AddMemoryRequest* req,
                   pb::AddMemoryResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_RETURN_IF_ERROR(Authorize(ctx, req->ns(), "write"));
      MemoryRecord r;
      r.id = req->id();
      r.text = req->text();
      if (!req->metadata_json().empty()) {
        KOS_ASSIGN_OR_RETURN(r.metadata, ParseJson(req->metadata_json()));
      }
      r.embedding.assign(req->embedding().begin(), req->embedding().end());
      r.importance = req->importance();
      if (req->ttl_seconds() < 0) return absl::InvalidArgumentError("ttl_seconds must be >= 0");
      if (req->ttl_seconds() > 0) r.ttl = absl::Seconds(req->ttl_seconds());
      KOS_ASSIGN_OR_RETURN(std::string id, k_->memory()->Add(req->ns(), std::move(r)));
      out->set_id(id);
      return absl::OkStatus();
    });
  }

  grpc::Status Search(grpc::ServerContext* ctx, const pb::SearchMemoryRequest* req,
                      pb::SearchMemoryResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_RETURN_IF_ERROR(Authorize(ctx, req->ns(), "read"));
      KOS_ASSIGN_OR_RETURN(SearchRequest s, ToSearch(*req));
      KOS_ASSIGN_OR_RETURN(std::vector<SearchHit> hits, k_->memory()->Search(s));
      FillHits(hits, out);
      return absl::OkStatus();
    });
  }

  grpc::Status Recall(grpc::ServerContext* ctx, const pb::RecallRequest* req,
                      pb::SearchMemoryResponse* out) override {
    return Serve([&]() -> absl::Status {
      KOS_RETURN_IF_ERROR(Authorize(ctx, req->search().ns(), "read"));
      KOS_ASSIGN_OR_RETURN(SearchRequest s, ToSearch(req->search()));
      RecallOptions o;
      if (req->w_similarity() != 0 || req->w_recency() != 0 || req->w_importance() != 0) {
        o.w_similarity = req->w_similarity();
        o.w_recency = req->w_recency();
        o.w_importance = req->w_importance();
      }
      o.mmr = req->mmr();
      KOS_ASSIGN_OR_RETURN(std::vector<SearchHit> hits, k_->memory()->Recall(s, o));
      FillHits(hits, out);
      return absl::OkStatus();
    });
  }

 private:
  absl::Status Authorize(grpc::ServerContext* ctx, const std::string& ns,
                         absl::string_view action) {
    if (ns.empty()) return absl::InvalidArgumentError("namespace is required");
    return gate_->Authorize(ctx, absl::StrCat("memory:ns/", ns), action).status();
  }

  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewMemoryService(const Gate* gate) {
  return std::make_unique<MemoryService>(gate);
}

}  // namespace kos::server::grpc_impl
