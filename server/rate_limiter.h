#ifndef AUTOLRS_SERVER_RATE_LIMITER_H_
#define AUTOLRS_SERVER_RATE_LIMITER_H_

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace autolrs::server {

// Requests per second per tenant: a token bucket per tenant that refills at
// `per_second` tokens a second and holds at most `burst` (so a tenant may
// send `burst` calls at once after a quiet second, then `per_second` a
// second).
//
// Thread-safe. Memory: one bucket per tenant seen.
class RateLimiter {
 public:
  using Clock = std::function<absl::Time()>;

  // per_second <= 0: unlimited. burst < 1 counts as max(1, per_second).
  explicit RateLimiter(double per_second, double burst = 0, Clock clock = absl::Now);

  // Takes one token of `tenant`'s bucket; RESOURCE_EXHAUSTED naming the
  // limit when it is empty (the call must not run).
  absl::Status Admit(absl::string_view tenant);

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  const double per_second_;
  const double burst_;
  const Clock clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_RATE_LIMITER_H_
