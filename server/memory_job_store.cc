#include "server/memory_job_store.h"

#include "absl/strings/str_cat.h"
#include "server/family_records.h"

namespace autolrs::server {

absl::Status MemoryJobStore::Insert(const JobState& state) {
  if (state.version() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a new job has version 1, got ", state.version()));
  }
  absl::MutexLock lock(&mu_);
  const std::string& id = state.job().job_id();
  if (jobs_.count(id)) return absl::AlreadyExistsError(absl::StrCat("job '", id, "' exists"));
  if (!state.request_id().empty() && job_by_request_.count(state.request_id())) {
    return absl::AlreadyExistsError(absl::StrCat("request_id '", state.request_id(), "' was used"));
  }
  jobs_.emplace(id, state);
  if (!state.request_id().empty()) job_by_request_.emplace(state.request_id(), id);
  return absl::OkStatus();
}

absl::StatusOr<JobState> MemoryJobStore::Get(absl::string_view job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  return it->second;
}

absl::StatusOr<std::optional<JobState>> MemoryJobStore::FindByRequestId(
    absl::string_view request_id) {
  absl::MutexLock lock(&mu_);
  auto it = job_by_request_.find(request_id);
  if (it == job_by_request_.end()) return std::optional<JobState>();
  return std::optional<JobState>(jobs_.at(it->second));
}

absl::Status MemoryJobStore::Update(const JobState& state) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(state.job().job_id());
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("no job '", state.job().job_id(), "'"));
  }
  if (it->second.version() != state.version() - 1) {
    return absl::AbortedError(absl::StrCat("job '", state.job().job_id(), "' is at version ",
                                           it->second.version(), ", not ", state.version() - 1));
  }
  it->second = state;
  return absl::OkStatus();
}

absl::Status MemoryJobStore::Delete(absl::string_view job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  if (!it->second.request_id().empty()) job_by_request_.erase(it->second.request_id());
  jobs_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JobState>> MemoryJobStore::List(absl::string_view after, int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<JobState> page;
  for (auto it = jobs_.upper_bound(after); it != jobs_.end() && page.size() < limit; ++it) {
    page.push_back(it->second);
  }
  return page;
}

absl::StatusOr<FamilyState> MemoryJobStore::GetFamily(absl::string_view tenant,
                                                      absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(FamilyKey(tenant, name));
  if (it == families_.end()) return NoFamily(tenant, name);
  return it->second;
}

absl::Status MemoryJobStore::PutFamily(const FamilyState& state) {
  if (absl::Status s = CheckFamilyWrite(state); !s.ok()) return s;
  const std::string& tenant = state.family().tenant();
  const std::string& name = state.family().name();
  absl::MutexLock lock(&mu_);
  auto it = families_.find(FamilyKey(tenant, name));
  if (state.version() == 1) {
    if (it != families_.end()) return FamilyExists(tenant, name);
    families_.emplace(FamilyKey(tenant, name), state);
    return absl::OkStatus();
  }
  if (it == families_.end()) return NoFamily(tenant, name);
  if (it->second.version() != state.version() - 1) {
    return FamilyVersionMismatch(tenant, name, it->second.version(), state.version());
  }
  it->second = state;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FamilyState>> MemoryJobStore::ListFamilies(absl::string_view tenant,
                                                                      absl::string_view after,
                                                                      int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<FamilyState> page;
  for (auto it = families_.upper_bound(FamilyKey(tenant, after));
       it != families_.end() && it->first.first == tenant && page.size() < limit; ++it) {
    page.push_back(it->second);
  }
  return page;
}

absl::Status MemoryJobStore::DeleteFamily(absl::string_view tenant, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  if (families_.erase(FamilyKey(tenant, name)) == 0) return NoFamily(tenant, name);
  return absl::OkStatus();
}

}  // namespace autolrs::server
