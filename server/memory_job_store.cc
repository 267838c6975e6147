#include "server/memory_job_store.h"

#include "absl/strings/str_cat.h"

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

}  // namespace autolrs::server
