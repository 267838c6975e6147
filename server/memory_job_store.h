#ifndef AUTOLRS_SERVER_MEMORY_JOB_STORE_H_
#define AUTOLRS_SERVER_MEMORY_JOB_STORE_H_

#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/job_store.h"

namespace autolrs::server {

// A JobStore in process memory: nothing survives the process. For tests and
// for running without persistence (`--store=memory:`). Thread-safe.
class MemoryJobStore final : public JobStore {
 public:
  absl::Status Insert(const JobState& state) override;
  absl::StatusOr<JobState> Get(absl::string_view job_id) override;
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view request_id) override;
  absl::Status Update(const JobState& state) override;
  absl::Status Delete(absl::string_view job_id) override;
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override;
  absl::StatusOr<FamilyState> GetFamily(absl::string_view tenant, absl::string_view name) override;
  absl::Status PutFamily(const FamilyState& state) override;
  absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view tenant,
                                                        absl::string_view after,
                                                        int limit) override;
  absl::Status DeleteFamily(absl::string_view tenant, absl::string_view name) override;

 private:
  // (tenant, name): the order ListFamilies pages in.
  using FamilyKey = std::pair<std::string, std::string>;

  absl::Mutex mu_;
  std::map<std::string, JobState, std::less<>> jobs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> job_by_request_ ABSL_GUARDED_BY(mu_);
  std::map<FamilyKey, FamilyState> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_MEMORY_JOB_STORE_H_
