#include "kos/id.h"

#include <sodium.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kos {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int DecodeChar(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const char* p = std::strchr(kAlphabet, c);
  if (c == '\0' || p == nullptr) return -1;
  return static_cast<int>(p - kAlphabet);
}

// 128 bits: 48-bit big-endian ms timestamp, then 80 random bits.
std::string Encode(uint64_t ms, const std::array<uint8_t, 10>& rnd) {
  uint8_t b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  std::memcpy(b + 6, rnd.data(), 10);
  // 26 chars * 5 bits = 130 bits: the first char carries the top 3 bits.
  std::string out(26, '0');
  unsigned __int128 v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  for (int i = 25; i >= 0; --i) {
    out[i] = kAlphabet[static_cast<int>(v & 31)];
    v >>= 5;
  }
  return out;
}

uint64_t NowMs(Clock* clock) {
  return static_cast<uint64_t>(absl::ToUnixMillis(clock->Now())) & ((1ULL << 48) - 1);
}

}  // namespace

IdGenerator::IdGenerator(Clock* clock) : clock_(clock) {}

std::string IdGenerator::Next() {
  uint64_t ms = NowMs(clock_);
  absl::MutexLock l(&mu_);
  if (ms <= last_ms_) {
    // Same (or earlier: clock stepped back) millisecond: increment the random
    // part so ids stay strictly increasing.
    ms = last_ms_;
    for (int i = 9; i >= 0; --i) {
      if (++last_random_[i] != 0) break;
      if (i == 0) ++ms;  // 80-bit overflow: borrow the next millisecond
    }
  } else {
    randombytes_buf(last_random_.data(), last_random_.size());
    last_random_[0] &= 0x7f;  // headroom for increments within one millisecond
  }
  last_ms_ = ms;
  return Encode(ms, last_random_);
}

std::string NewId() {
  std::array<uint8_t, 10> rnd;
  randombytes_buf(rnd.data(), rnd.size());
  return Encode(NowMs(Clock::Real()), rnd);
}

bool IsValidId(absl::string_view id) {
  if (id.size() != 26) return false;
  if (DecodeChar(id[0]) > 7) return false;  // would overflow 128 bits
  for (char c : id) {
    if (DecodeChar(c) < 0) return false;
  }
  return true;
}

absl::StatusOr<absl::Time> IdTime(absl::string_view id) {
  if (!IsValidId(id)) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid id: '", id.substr(0, 64), "'"));
  }
  uint64_t ms = 0;
  // The first 10 chars hold 50 bits: 2 leading zero bits + 48-bit time.
  for (int i = 0; i < 10; ++i) ms = (ms << 5) | static_cast<uint64_t>(DecodeChar(id[i]));
  return absl::FromUnixMillis(static_cast<int64_t>(ms));
}

}  // namespace kos
