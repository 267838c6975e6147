#ifndef AUTOLRS_SERVER_INSTRUMENTED_JOB_STORE_H_
#define AUTOLRS_SERVER_INSTRUMENTED_JOB_STORE_H_

#include <initializer_list>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "server/job_store.h"
#include "server/metrics.h"

namespace autolrs::server {

// A JobStore that forwards every call to another and measures it: the
// latency and errors of each call go to `metrics` (when not null), and every
// failure of the storage itself (UNAVAILABLE, DATA_LOSS, INTERNAL and other
// codes that are not a caller's NOT_FOUND, ALREADY_EXISTS or ABORTED) is
// logged as one error line with the operation and the job id (for a family
// call: the family's name and tenant). Family calls are measured as
// GetFamily, PutFamily, ListFamilies and DeleteFamily.
//
// Thread-safe when the wrapped store is. Owns `store`; does not own
// `metrics`, which must outlive it.
class InstrumentedJobStore final : public JobStore {
 public:
  InstrumentedJobStore(std::unique_ptr<JobStore> store, ServerMetrics* metrics);

  absl::Status Insert(const JobState& state) override;
  absl::StatusOr<JobState> Get(absl::string_view job_id) override;
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view request_id) override;
  absl::Status Update(const JobState& state) override;
  absl::StatusOr<int64_t> GetVersion(absl::string_view job_id) override;
  bool shared() const override { return store_->shared(); }
  absl::Status Delete(absl::string_view job_id) override;
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override;
  absl::StatusOr<FamilyState> GetFamily(absl::string_view tenant, absl::string_view name) override;
  absl::Status PutFamily(const FamilyState& state) override;
  absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view tenant,
                                                        absl::string_view after,
                                                        int limit) override;
  absl::Status DeleteFamily(absl::string_view tenant, absl::string_view name) override;
  absl::Status CheckHealth() override;

 private:
  using LogFields = std::initializer_list<std::pair<absl::string_view, absl::string_view>>;
  // Records one call of `op` that began at `start`; a failure's log line
  // names what it was about with `fields` (key, value; empty values left
  // out).
  void Record(absl::string_view op, const absl::Status& status, absl::Time start, LogFields fields);

  const std::unique_ptr<JobStore> store_;
  ServerMetrics* const metrics_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_INSTRUMENTED_JOB_STORE_H_
