#ifndef AUTOLRS_SERVER_SCHEDULER_H_
#define AUTOLRS_SERVER_SCHEDULER_H_

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "autolrs/v1/service.pb.h"
#include "server/caller.h"
#include "server/family_registry.h"
#include "server/job.h"
#include "server/job_observer.h"
#include "server/job_store.h"

namespace autolrs::server {

// The set of live jobs behind the service: validates requests, runs each
// job's state machine and persists every change before answering.
//
// Every job has its own lock, so jobs never wait on each other; the job map
// lock is held only to find an entry. Jobs are cached in memory after their
// first use and written through to the store with compare-and-swap; a write
// that loses a race (another replica changed the job) reloads and retries.
// A change is all or nothing: when the job's state machine or the store
// fails, the job in memory is as before (or dropped, to be reloaded from the
// store, which is the truth).
//
// With a store shared by several replicas (JobStore::shared(), PostgreSQL),
// any replica serves any job: before a cached job answers, its version is
// compared with the stored one (one indexed read) and the job is reloaded
// when another replica changed it; writes are compare-and-swap, so a report
// that two replicas apply concurrently lands once (the loser reloads and
// finds it applied). A write still losing after kMaxWriteAttempts is
// ABORTED, which clients retry.
//
// The cache is bounded: finished jobs leave it once their last change is
// stored, and beyond `max_cached_jobs` the least recently used idle jobs do
// (they are reloaded from the store when used again).
//
// Thread-safe. Does not own the store, which must outlive it.
class Scheduler {
 public:
  using Clock = std::function<absl::Time()>;
  static constexpr size_t kDefaultMaxCachedJobs = 10000;

  explicit Scheduler(JobStore* store, Clock clock = absl::Now,
                     size_t max_cached_jobs = kDefaultMaxCachedJobs);

  // Every call acts for `caller`: a job the caller may not see
  // (Caller::MaySee) is NOT_FOUND exactly like a missing one, before any
  // other check; ListJobs lists only the jobs it may see; CreateJob's job
  // belongs to caller.tenant and its request_id is scoped to that tenant.
  absl::StatusOr<v1::Job> CreateJob(const v1::CreateJobRequest& request,
                                    const Caller& caller = Caller::Unrestricted());
  absl::StatusOr<v1::Job> GetJob(const v1::GetJobRequest& request,
                                 const Caller& caller = Caller::Unrestricted());
  // For a caller that is not an admin, the store's jobs are read in batches
  // and filtered (the store has no tenant index): its cost grows with the
  // jobs of other tenants sorting between two of the caller's.
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request,
                                                const Caller& caller = Caller::Unrestricted());
  absl::Status DeleteJob(const v1::DeleteJobRequest& request,
                         const Caller& caller = Caller::Unrestricted());
  // Also advances a job whose rank_timeout_seconds have passed (persisted).
  absl::StatusOr<v1::Action> NextAction(const v1::NextActionRequest& request,
                                        const Caller& caller = Caller::Unrestricted());
  absl::StatusOr<v1::Action> ReportLosses(const v1::ReportLossesRequest& request,
                                          const Caller& caller = Caller::Unrestricted());
  absl::StatusOr<v1::Schedule> GetSchedule(const v1::GetScheduleRequest& request,
                                           const Caller& caller = Caller::Unrestricted());

  // Families (JobConfig.family) of the caller's tenant (FamilyRegistry): a
  // job of a family starts from the family's runs when it is created, and
  // joins them when it finishes: before its DONE state is stored, so that a
  // failed record fails the report (the job stays as before and the
  // trainer's retry records it) and no finished run is lost.
  absl::StatusOr<v1::Family> GetFamily(const v1::GetFamilyRequest& request,
                                       const Caller& caller = Caller::Unrestricted());
  absl::StatusOr<v1::ListFamiliesResponse> ListFamilies(
      const v1::ListFamiliesRequest& request, const Caller& caller = Caller::Unrestricted());
  absl::Status DeleteFamily(const v1::DeleteFamilyRequest& request,
                            const Caller& caller = Caller::Unrestricted());

  // Jobs held in memory.
  size_t cached_jobs() const;

  // Tells `observer` (not owned; nullptr: none) about every job created,
  // changed or deleted from now on. Call before serving: not synchronized
  // with calls in flight.
  void set_observer(JobObserver* observer) { observer_ = observer; }

 private:
  struct Entry {
    absl::Mutex mu;
    std::optional<Job> job ABSL_GUARDED_BY(mu);
    // Position in lru_ (front: most recently used).
    std::list<std::string>::iterator lru ABSL_GUARDED_BY(Scheduler::map_mu_);
  };

  // Applies `change` to the cached job and persists the result when it says
  // the job changed (version + 1, compare-and-swap; a lost race reloads and
  // applies again). A finished job leaves the cache once stored.
  template <typename T, typename Change>
  absl::StatusOr<T> Apply(absl::string_view job_id, Entry& entry, Change change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // Job::ExpireRanks, persisted.
  absl::Status ExpireRanks(absl::string_view job_id, Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // Drops idle entries beyond max_cached_jobs_, least recently used first.
  void EvictIdle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(map_mu_);

  // The cache entry of `job_id` (created empty if absent). INVALID_ARGUMENT
  // for malformed ids.
  absl::StatusOr<std::shared_ptr<Entry>> EntryFor(absl::string_view job_id);
  // EnsureLoaded, after dropping a cached job that is no longer the stored
  // version when the store is shared with other replicas (one
  // JobStore::GetVersion call): what a call answers from the cache is never
  // older than the store was when the call began.
  absl::Status EnsureCurrent(absl::string_view job_id, Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // Loads the job into `entry` unless it is there; NOT_FOUND (and the entry
  // dropped from the map) for unknown jobs.
  absl::Status EnsureLoaded(absl::string_view job_id, Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // EnsureLoaded, then NOT_FOUND (as for a missing job) unless `caller` may
  // see the job.
  absl::Status EnsureVisible(absl::string_view job_id, Entry& entry, const Caller& caller)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  absl::Status Load(absl::string_view job_id, Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  void Forget(absl::string_view job_id, const Entry* entry);

  JobStore* const store_;
  FamilyRegistry families_;
  const Clock clock_;
  const size_t max_cached_jobs_;
  JobObserver* observer_ = nullptr;

  mutable absl::Mutex map_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> jobs_ ABSL_GUARDED_BY(map_mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(map_mu_);
};

// INVALID_ARGUMENT unless `job_id` is 1 to 63 characters of [a-z0-9-_].
absl::Status ValidateJobId(absl::string_view job_id);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_SCHEDULER_H_
