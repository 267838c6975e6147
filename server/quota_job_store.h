#ifndef AUTOLRS_SERVER_QUOTA_JOB_STORE_H_
#define AUTOLRS_SERVER_QUOTA_JOB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/job_store.h"

namespace autolrs::server {

// Per-tenant limits on what the store holds (v1::Job.tenant); 0: none.
struct StoreQuotas {
  // Jobs in state RUNNING a tenant may have; CreateJob beyond it is refused
  // (finished or deleted jobs free their slot).
  int64_t max_live_jobs = 0;
  // Bytes of job state (the serialized JobState, which grows with every
  // stage) a tenant may store; a write that would grow the tenant's total
  // past it (a new job, a report) is refused. Deleting jobs frees it.
  int64_t max_state_bytes = 0;
};

// What one tenant holds.
struct TenantUsage {
  int64_t live_jobs = 0;
  int64_t state_bytes = 0;
};

// A JobStore that enforces StoreQuotas in front of another: Insert and
// Update that would exceed a quota answer RESOURCE_EXHAUSTED naming the
// limit and write nothing (the Scheduler then keeps the job as stored).
//
// Usage is counted in memory: from one read of every stored job when
// wrapping, then from this process's writes. Replicas sharing one store each
// count their own writes on top of what was stored when they started, so
// with replicas a quota may be exceeded by what the others wrote since.
//
// Thread-safe. Checks reserve their usage before the inner write and give
// it back when the write fails, so concurrent writes cannot overshoot.
class QuotaJobStore final : public JobStore {
 public:
  // Counts the usage of every job in `inner` (errors of its List pass on).
  static absl::StatusOr<std::unique_ptr<QuotaJobStore>> Wrap(std::unique_ptr<JobStore> inner,
                                                             StoreQuotas quotas);

  absl::Status Insert(const JobState& state) override;
  absl::StatusOr<JobState> Get(absl::string_view job_id) override { return inner_->Get(job_id); }
  absl::StatusOr<std::optional<JobState>> FindByRequestId(absl::string_view request_id) override {
    return inner_->FindByRequestId(request_id);
  }
  absl::Status Update(const JobState& state) override;
  absl::StatusOr<int64_t> GetVersion(absl::string_view job_id) override {
    return inner_->GetVersion(job_id);
  }
  bool shared() const override { return inner_->shared(); }
  absl::Status Delete(absl::string_view job_id) override;
  absl::StatusOr<std::vector<JobState>> List(absl::string_view after, int limit) override {
    return inner_->List(after, limit);
  }
  // Family records are forwarded as they are: they count toward no quota
  // (a family keeps at most 16 runs, so its size is bounded).
  absl::StatusOr<FamilyState> GetFamily(absl::string_view tenant, absl::string_view name) override {
    return inner_->GetFamily(tenant, name);
  }
  absl::Status PutFamily(const FamilyState& state) override { return inner_->PutFamily(state); }
  absl::StatusOr<std::vector<FamilyState>> ListFamilies(absl::string_view tenant,
                                                        absl::string_view after,
                                                        int limit) override {
    return inner_->ListFamilies(tenant, after, limit);
  }
  absl::Status DeleteFamily(absl::string_view tenant, absl::string_view name) override {
    return inner_->DeleteFamily(tenant, name);
  }
  absl::Status CheckHealth() override { return inner_->CheckHealth(); }

  TenantUsage Usage(absl::string_view tenant) const;

 private:
  struct Held {
    std::string tenant;
    int64_t bytes = 0;
    bool live = false;
  };
  QuotaJobStore(std::unique_ptr<JobStore> inner, StoreQuotas quotas)
      : inner_(std::move(inner)), quotas_(quotas) {}
  static Held HeldBy(const JobState& state);
  // Replaces what `job_id` holds (nullopt: nothing) and adjusts its tenants'
  // usage; `check`: first RESOURCE_EXHAUSTED if the change would exceed a
  // quota (changes nothing then).
  absl::Status Swap(const std::string& job_id, const std::optional<Held>& now, bool check,
                    std::optional<Held>* before) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<JobStore> inner_;
  const StoreQuotas quotas_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Held> jobs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TenantUsage> usage_ ABSL_GUARDED_BY(mu_);
};

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_QUOTA_JOB_STORE_H_
