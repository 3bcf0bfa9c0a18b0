// kos.v1.Artifacts: streamed upload and download over kos::ArtifactStore.
#include "absl/strings/str_cat.h"
#include "grpc/services.h"
#include "grpc/task_convert.h"
#include "kos/status.h"
#include "kos/v1/artifacts.grpc.pb.h"

namespace kos::server::grpc_impl {
namespace {

namespace pb = ::kos::v1;

// Bytes per Download data message.
constexpr size_t kChunkBytes = 64 << 10;

void FillMetadata(const kos::ArtifactMetadata& m, pb::ArtifactMetadata* out) {
  out->set_id(m.id);
  auto* info = out->mutable_info();
  info->set_name(m.info.name);
  info->set_content_type(m.info.content_type);
  for (const auto& [k, v] : m.info.tags) (*info->mutable_tags())[k] = v;
  out->set_owner(m.info.owner);
  out->set_size(m.size);
  out->set_blake2b(m.blake2b);
  out->set_created_ms(UnixMillisOrZero(m.created));
}

class ArtifactsService final : public pb::Artifacts::Service {
 public:
  explicit ArtifactsService(const Gate* gate) : gate_(gate), k_(gate->kernel()) {}

  grpc::Status Upload(grpc::ServerContext* ctx, grpc::ServerReader<pb::UploadRequest>* reader,
                      pb::ArtifactMetadata* out) override {
    return Serve([&]() -> absl::Status {
      KOS_ASSIGN_OR_RETURN(Caller c, gate_->Authorize(ctx, "artifacts:new", "write"));
      pb::UploadRequest msg;
      if (!reader->Read(&msg) || !msg.has_info()) {
        return absl::InvalidArgumentError("the first Upload message must carry info");
      }
      kos::ArtifactInfo info;
      info.name = msg.info().name();
      if (!msg.info().content_type().empty()) info.content_type = msg.info().content_type();
      info.owner = c.subject;
      info.tags.insert(msg.info().tags().begin(), msg.info().tags().end());
      info.expected_blake2b = msg.info().expected_blake2b();
      KOS_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactWriter> w, k_->artifacts()->NewWriter(info));
      while (reader->Read(&msg)) {
        if (!msg.has_data()) {
          return absl::InvalidArgumentError("only data may follow the first Upload message");
        }
        KOS_RETURN_IF_ERROR(w->Append(msg.data()));
      }
      // Read() also ends when the client cancels: only a half-close commits.
      if (ctx->IsCancelled()) return absl::CancelledError("upload cancelled");
      KOS_ASSIGN_OR_RETURN(kos::ArtifactMetadata m, w->Commit());
      FillMetadata(m, out);
      return absl::OkStatus();
    });
  }

  grpc::Status Download(grpc::ServerContext* ctx, const pb::DownloadRequest* req,
                        grpc::ServerWriter<pb::DownloadResponse>* writer) override {
    return Serve([&]() -> absl::Status {
      if (req->id().empty()) return absl::InvalidArgumentError("id is required");
      KOS_ASSIGN_OR_RETURN(Caller c,
                           gate_->Authorize(ctx, absl::StrCat("artifacts:", req->id()), "read"));
      KOS_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactReader> r,
                           k_->artifacts()->NewReader(req->id()));
      pb::DownloadResponse msg;
      FillMetadata(r->metadata(), msg.mutable_metadata());
      if (!writer->Write(msg)) return absl::CancelledError("client went away");
      std::string buf(kChunkBytes, '\0');
      while (true) {
        KOS_ASSIGN_OR_RETURN(size_t n, r->Read(buf.data(), buf.size()));
        if (n == 0) return absl::OkStatus();
        msg.Clear();
        msg.set_data(buf.data(), n);
        if (!writer->Write(msg)) return absl::CancelledError("client went away");
      }
    });
  }

 private:
  const Gate* gate_;
  Kernel* k_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewArtifactsService(const Gate* gate) {
  return std::make_unique<ArtifactsService>(gate);
}

}  // namespace kos::server::grpc_impl
