#ifndef AUTOLRS_SERVER_JOB_STORE_H_
#define AUTOLRS_SERVER_JOB_STORE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// Durable storage of job states. Every write is compare-and-swap on
// JobState.version, so several server replicas may share one store: a writer
// that lost a race gets ABORTED and must reload.
//
// A call returns only once its effect is durable (for a durable store).
// Failures of the storage itself (disk full, I/O errors, a vanished file)
// are UNAVAILABLE: retryable, and a failed write changes nothing.
// Thread-safety: implementations are safe for concurrent use.
class JobStore {
 public:
  virtual ~JobStore() = default;

  // Stores a new job; `state.version()` must be 1. ALREADY_EXISTS when the
  // job_id, or the non-empty request_id, is taken.
  virtual absl::Status Insert(const JobState& state) = 0;

  // NOT_FOUND when there is no such job; DATA_LOSS when its stored record is
  // corrupt (that job only).
  virtual absl::StatusOr<JobState> Get(absl::string_view job_id) = 0;

  // The job created with `request_id`, if any.
  virtual absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view request_id) = 0;

  // Replaces the stored state of `state.job().job_id()` if its version is
  // `state.version() - 1`. ABORTED when it is not, NOT_FOUND when the job is
  // gone.
  virtual absl::Status Update(const JobState& state) = 0;

  // The stored version of the job: NOT_FOUND when there is no such job. A
  // cheap check of whether a copy of the job is current.
  virtual absl::StatusOr<int64_t> GetVersion(absl::string_view job_id) {
    absl::StatusOr<JobState> state = Get(job_id);
    if (!state.ok()) return state.status();
    return state->version();
  }

  // Whether other processes (server replicas) may change the stored jobs
  // too. When true, a copy of a job held in memory may be stale and must be
  // checked against GetVersion before it is used to answer; when false (the
  // store belongs to this process alone), it is current as long as every
  // write went through this process.
  virtual bool shared() const { return false; }

  // NOT_FOUND when there is no such job.
  virtual absl::Status Delete(absl::string_view job_id) = 0;

  // Up to `limit` jobs whose job_id sorts after `after`, in job_id order. A
  // job whose record is corrupt is listed as a placeholder holding only
  // job().job_id() (version 0, state JOB_STATE_UNSPECIFIED), so that the
  // others are still listed and the bad one is visible; Get answers DATA_LOSS
  // for it.
  virtual absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) = 0;

  // Families (JobConfig.family), one record per (tenant, name), written
  // compare-and-swap on FamilyState.version like jobs. A store that keeps no
  // families answers UNIMPLEMENTED (the defaults below); the memory, SQLite
  // and PostgreSQL stores keep them, as durably as their jobs.

  // NOT_FOUND when there is none; DATA_LOSS when its record is corrupt.
  virtual absl::StatusOr<FamilyState> GetFamily(absl::string_view tenant, absl::string_view name) {
    return Unimplemented();
  }

  // Stores `state` under (state.family().tenant(), state.family().name()):
  // version 1 inserts (ALREADY_EXISTS when the family exists); version v > 1
  // replaces a stored version v - 1 (ABORTED when the stored version differs,
  // NOT_FOUND when the family is gone).
  virtual absl::Status PutFamily(const FamilyState& state) { return Unimplemented(); }

  // Up to `limit` families of `tenant` whose name sorts after `after`, in
  // name order. A corrupt record is listed as a placeholder holding only its
  // name and tenant (version 0).
  virtual absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view tenant,
                                                                absl::string_view after,
                                                                int limit) {
    return Unimplemented();
  }

  // NOT_FOUND when there is no such family.
  virtual absl::Status DeleteFamily(absl::string_view tenant, absl::string_view name) {
    return Unimplemented();
  }

  // OK while the store can serve; UNAVAILABLE (saying why) while it cannot,
  // e.g. its file vanished or writes fail. May write a probe. The server's
  // health service reports NOT_SERVING while this fails.
  virtual absl::Status CheckHealth() { return absl::OkStatus(); }

 private:
  static absl::Status Unimplemented() {
    return absl::UnimplementedError("this store keeps no families");
  }
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_JOB_STORE_H_
