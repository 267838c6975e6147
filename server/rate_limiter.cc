#include "server/rate_limiter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace autolrs::server {

RateLimiter::RateLimiter(double per_second, double burst, Clock clock)
    : per_second_(per_second),
      burst_(burst >= 1 ? burst : std::max(1.0, per_second)),
      clock_(std::move(clock)) {}

absl::Status RateLimiter::Admit(absl::string_view tenant) {
  if (per_second_ <= 0) return absl::OkStatus();
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(tenant, Bucket{burst_, now});
  Bucket& bucket = it->second;
  if (!inserted) {
    const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.last));
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed * per_second_);
    bucket.last = now;
  }
  if (bucket.tokens < 1) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "tenant '", tenant, "' is over its request rate limit (",
        "--tenant_requests_per_second=", per_second_, ", burst ", burst_, "); retry later"));
  }
  bucket.tokens -= 1;
  return absl::OkStatus();
}

}  // namespace autolrs::server
