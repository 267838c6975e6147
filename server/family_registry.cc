#include "server/family_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace autolrs::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Attempts of a record that keeps losing compare-and-swap races.
constexpr int kMaxRecordAttempts = 5;

absl::Status NoSuchFamily(absl::string_view name) {
  return absl::NotFoundError(
      absl::StrCat("family '", name, "' does not exist (no job of it has finished)"));
}

}  // namespace

absl::StatusOr<FamilyRuns> FamilyRegistry::RunsFor(absl::string_view tenant,
                                                   const v1::JobConfig& config) {
  if (config.family().empty() || !ValidateName(config.family(), "family").ok()) return FamilyRuns();
  absl::StatusOr<FamilyState> state = store_->GetFamily(tenant, config.family());
  if (absl::IsNotFound(state.status()) || absl::IsUnimplemented(state.status())) {
    return FamilyRuns();
  }
  if (!state.ok()) return state.status();
  return std::move(*state->mutable_family()->mutable_runs());
}

absl::Status FamilyRegistry::Record(const JobState& done) {
  const v1::Job& job = done.job();
  if (job.config().family().empty() || job.config().total_steps() <= 0) return absl::OkStatus();
  const v1::FamilyRun run = SummarizeRun(done);
  absl::Status written;
  for (int attempt = 0; attempt < kMaxRecordAttempts; ++attempt) {
    absl::StatusOr<FamilyState> state = store_->GetFamily(job.tenant(), job.config().family());
    if (absl::IsUnimplemented(state.status())) return absl::OkStatus();
    if (absl::IsNotFound(state.status())) {
      state = FamilyState();
      state->mutable_family()->set_name(job.config().family());
      state->mutable_family()->set_tenant(job.tenant());
    } else if (!state.ok()) {
      return state.status();
    }
    AddRun(run, *state->mutable_family());
    *state->mutable_family()->mutable_update_time() = job.update_time();
    state->set_version(state->version() + 1);
    written = store_->PutFamily(*state);
    // Lost a race with another job of the family (or replica): read again.
    if (!absl::IsAborted(written) && !absl::IsAlreadyExists(written) &&
        !absl::IsNotFound(written)) {
      return written;
    }
  }
  return absl::AbortedError(absl::StrCat("family '", job.config().family(), "' kept changing (",
                                         written.message(), "); retry"));
}

absl::StatusOr<v1::Family> FamilyRegistry::Get(absl::string_view tenant,
                                               const v1::GetFamilyRequest& request) {
  if (absl::Status s = ValidateName(request.name(), "name"); !s.ok()) return s;
  absl::StatusOr<FamilyState> state = store_->GetFamily(tenant, request.name());
  if (absl::IsNotFound(state.status()) || absl::IsUnimplemented(state.status())) {
    return NoSuchFamily(request.name());
  }
  if (!state.ok()) return state.status();
  v1::Family family = std::move(*state->mutable_family());
  DeriveCurve(family);
  return family;
}

absl::StatusOr<v1::ListFamiliesResponse> FamilyRegistry::List(
    absl::string_view tenant, const v1::ListFamiliesRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in [0, ", kMaxPageSize, "], got ", request.page_size()));
  }
  if (!request.page_token().empty()) {
    if (absl::Status s = ValidateName(request.page_token(), "page_token"); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token is not one ListFamilies returned: ", s.message()));
    }
  }
  const int size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  v1::ListFamiliesResponse response;
  absl::StatusOr<std::vector<FamilyState>> page =
      store_->ListFamilies(tenant, request.page_token(), size + 1);
  if (absl::IsUnimplemented(page.status())) return response;
  if (!page.ok()) return page.status();
  for (int i = 0; i < page->size() && i < size; ++i) {
    v1::Family* family = response.add_families();
    *family = std::move(*(*page)[i].mutable_family());
    DeriveCurve(*family);
    for (v1::FamilyRun& run : *family->mutable_runs()) run.clear_stages();
  }
  if (page->size() > size) response.set_next_page_token(response.families(size - 1).name());
  return response;
}

absl::Status FamilyRegistry::Delete(absl::string_view tenant,
                                    const v1::DeleteFamilyRequest& request) {
  if (absl::Status s = ValidateName(request.name(), "name"); !s.ok()) return s;
  absl::Status s = store_->DeleteFamily(tenant, request.name());
  if (absl::IsNotFound(s) || absl::IsUnimplemented(s)) return NoSuchFamily(request.name());
  return s;
}

}  // namespace autolrs::server
