// Private: POSTs JSON to an OpenAI-compatible API (`/v1/embeddings`,
// `/v1/chat/completions`) and maps failures to typed statuses. The API key
// never appears in an error, even when the server echoes it back.
#ifndef KOS_SRC_OPENAI_OPENAI_CLIENT_H_
#define KOS_SRC_OPENAI_OPENAI_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kos/json.h"

namespace kos::openai {

class Client {
 public:
  // `base_url` like "http://127.0.0.1:8000" or "https://api.example.com/v1";
  // `endpoint` like "embeddings" or "chat/completions" (appended after /v1).
  static absl::StatusOr<Client> Create(absl::string_view base_url, absl::string_view endpoint,
                                       std::string api_key, absl::Duration timeout);

  // 401 -> UNAUTHENTICATED, 403 -> PERMISSION_DENIED, 429 -> RESOURCE_EXHAUSTED,
  // other 4xx -> INVALID_ARGUMENT, 5xx/unreachable -> UNAVAILABLE, a body that
  // is not JSON -> INTERNAL.
  absl::StatusOr<Json> Post(const Json& body) const;

  // `s` cut to 300 bytes with the API key replaced by "[redacted]".
  std::string Scrub(std::string s) const;

 private:
  std::string host_, path_, api_key_;
  absl::Duration timeout_;
};

}  // namespace kos::openai

#endif  // KOS_SRC_OPENAI_OPENAI_CLIENT_H_
