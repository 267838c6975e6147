#include "server/quota_job_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace autolrs::server {

absl::StatusOr<std::unique_ptr<QuotaJobStore>> QuotaJobStore::Wrap(std::unique_ptr<JobStore> inner,
                                                                   StoreQuotas quotas) {
  std::unique_ptr<QuotaJobStore> store(new QuotaJobStore(std::move(inner), quotas));
  constexpr int kBatch = 1000;
  std::string after;
  absl::MutexLock lock(&store->mu_);
  for (;;) {
    absl::StatusOr<std::vector<JobState>> page = store->inner_->List(after, kBatch);
    if (!page.ok()) return page.status();
    for (const JobState& state : *page) {
      std::optional<Held> before;
      (void)store->Swap(state.job().job_id(), HeldBy(state), /*check=*/false, &before);
    }
    if (page->size() < kBatch) break;
    after = page->back().job().job_id();
  }
  return store;
}

QuotaJobStore::Held QuotaJobStore::HeldBy(const JobState& state) {
  return Held{state.job().tenant(), static_cast<int64_t>(state.ByteSizeLong()),
              state.job().state() == v1::JOB_STATE_RUNNING};
}

TenantUsage QuotaJobStore::Usage(absl::string_view tenant) const {
  absl::MutexLock lock(&mu_);
  auto it = usage_.find(tenant);
  return it == usage_.end() ? TenantUsage() : it->second;
}

absl::Status QuotaJobStore::Swap(const std::string& job_id, const std::optional<Held>& now,
                                 bool check, std::optional<Held>* before) {
  auto it = jobs_.find(job_id);
  if (it != jobs_.end()) *before = it->second;
  if (check && now.has_value()) {
    const TenantUsage& usage = usage_[now->tenant];
    const bool same_tenant = before->has_value() && (*before)->tenant == now->tenant;
    const int64_t live_before = same_tenant && (*before)->live ? 1 : 0;
    const int64_t bytes_before = same_tenant ? (*before)->bytes : 0;
    if (quotas_.max_live_jobs > 0 && now->live && live_before == 0 &&
        usage.live_jobs + 1 > quotas_.max_live_jobs) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tenant '", now->tenant, "' already has ", usage.live_jobs,
                       " running jobs, its limit (--tenant_max_live_jobs=", quotas_.max_live_jobs,
                       "); delete or finish one first"));
    }
    const int64_t bytes_after = usage.state_bytes - bytes_before + now->bytes;
    if (quotas_.max_state_bytes > 0 && now->bytes > bytes_before &&
        bytes_after > quotas_.max_state_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "tenant '", now->tenant, "' would store ", bytes_after,
          " bytes of job state, over its limit (--tenant_max_state_bytes=", quotas_.max_state_bytes,
          "); delete finished jobs first"));
    }
  }
  if (before->has_value()) {
    TenantUsage& usage = usage_[(*before)->tenant];
    usage.live_jobs -= (*before)->live ? 1 : 0;
    usage.state_bytes -= (*before)->bytes;
  }
  if (now.has_value()) {
    TenantUsage& usage = usage_[now->tenant];
    usage.live_jobs += now->live ? 1 : 0;
    usage.state_bytes += now->bytes;
    jobs_[job_id] = *now;
  } else if (it != jobs_.end()) {
    jobs_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status QuotaJobStore::Insert(const JobState& state) {
  const std::string& job_id = state.job().job_id();
  std::optional<Held> before;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Swap(job_id, HeldBy(state), /*check=*/true, &before); !s.ok()) return s;
  }
  absl::Status written = inner_->Insert(state);
  if (!written.ok()) {
    absl::MutexLock lock(&mu_);
    std::optional<Held> ignored;
    (void)Swap(job_id, before, /*check=*/false, &ignored);
  }
  return written;
}

absl::Status QuotaJobStore::Update(const JobState& state) {
  const std::string& job_id = state.job().job_id();
  std::optional<Held> before;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Swap(job_id, HeldBy(state), /*check=*/true, &before); !s.ok()) return s;
  }
  absl::Status written = inner_->Update(state);
  if (!written.ok()) {
    absl::MutexLock lock(&mu_);
    std::optional<Held> ignored;
    // NOT_FOUND: the job is gone (deleted by another replica).
    (void)Swap(job_id, absl::IsNotFound(written) ? std::nullopt : before, /*check=*/false,
               &ignored);
  }
  return written;
}

absl::Status QuotaJobStore::Delete(absl::string_view job_id) {
  absl::Status deleted = inner_->Delete(job_id);
  if (deleted.ok() || absl::IsNotFound(deleted)) {
    absl::MutexLock lock(&mu_);
    std::optional<Held> before;
    (void)Swap(std::string(job_id), std::nullopt, /*check=*/false, &before);
  }
  return deleted;
}

}  // namespace autolrs::server
