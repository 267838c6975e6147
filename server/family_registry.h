#ifndef AUTOLRS_SERVER_FAMILY_REGISTRY_H_
#define AUTOLRS_SERVER_FAMILY_REGISTRY_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autolrs/v1/family.pb.h"
#include "autolrs/v1/service.pb.h"
#include "server/family.h"
#include "server/job_state.pb.h"
#include "server/job_store.h"

namespace autolrs::server {

// The families behind the service (JobConfig.family): reads a new job's
// prior from the store and records finished jobs into their family, with
// compare-and-swap on the family's version (a lost race re-reads and
// retries, so replicas sharing a store never lose a run). Families are per
// tenant: every call names the tenant and sees only its families.
//
// A store that keeps no families (UNIMPLEMENTED) makes every family empty:
// jobs run without a prior and nothing is recorded.
//
// Thread-safe (the store is). Does not own the store, which must outlive it.
class FamilyRegistry {
 public:
  explicit FamilyRegistry(JobStore* store) : store_(store) {}

  // The family's runs a new job of `config` in `tenant` starts from: empty
  // without config.family (or with a malformed one, which Job::Create
  // refuses) or when the family has no run. Errors: the store's (e.g.
  // UNAVAILABLE).
  absl::StatusOr<FamilyRuns> RunsFor(absl::string_view tenant, const v1::JobConfig& config);

  // Adds the finished job `done` (JOB_STATE_DONE, stamped) to its family,
  // whose update_time becomes the job's. A no-op without config.family. Idempotent: a job already recorded
  // is replaced by itself. Errors: the store's; ABORTED when the family kept
  // changing under it.
  absl::Status Record(const JobState& done);

  // The family with its curve. INVALID_ARGUMENT for a bad name, NOT_FOUND
  // when no job of it has finished.
  absl::StatusOr<v1::Family> Get(absl::string_view tenant, const v1::GetFamilyRequest& request);
  // The tenant's families by name, with curves; runs without stages.
  // INVALID_ARGUMENT for a bad page_size or page_token.
  absl::StatusOr<v1::ListFamiliesResponse> List(absl::string_view tenant,
                                                const v1::ListFamiliesRequest& request);
  // INVALID_ARGUMENT for a bad name, NOT_FOUND when there is no such family.
  absl::Status Delete(absl::string_view tenant, const v1::DeleteFamilyRequest& request);

 private:
  JobStore* const store_;
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_FAMILY_REGISTRY_H_
