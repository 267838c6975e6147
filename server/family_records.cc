#include "server/family_records.h"

#include "absl/strings/str_cat.h"
#include "server/stored_job_codec.h"

namespace autolrs::server {
namespace {

std::string Describe(absl::string_view tenant, absl::string_view name) {
  if (tenant.empty()) return absl::StrCat("family '", name, "'");
  return absl::StrCat("family '", name, "' of tenant '", tenant, "'");
}

absl::Status Corrupt(absl::string_view tenant, absl::string_view name, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(Describe(tenant, name), ": stored record ", what));
}

}  // namespace

absl::Status CheckFamilyWrite(const FamilyState& state) {
  const std::string what = Describe(state.family().tenant(), state.family().name());
  if (state.family().name().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a family needs a name"));
  }
  if (state.version() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": a family's version is at least 1, got ", state.version()));
  }
  return absl::OkStatus();
}

absl::Status NoFamily(absl::string_view tenant, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no ", Describe(tenant, name)));
}

absl::Status FamilyExists(absl::string_view tenant, absl::string_view name) {
  return absl::AlreadyExistsError(absl::StrCat(Describe(tenant, name), " exists"));
}

absl::Status FamilyVersionMismatch(absl::string_view tenant, absl::string_view name,
                                   int64_t stored_version, int64_t new_version) {
  return absl::AbortedError(absl::StrCat(Describe(tenant, name), " is at version ", stored_version,
                                         ", not ", new_version - 1));
}

std::string EncodeFamily(const FamilyState& state) { return state.SerializeAsString(); }

absl::StatusOr<FamilyState> DecodeStoredFamily(absl::string_view tenant, absl::string_view name,
                                               int64_t version, absl::string_view record,
                                               int64_t crc) {
  if (Crc32c(record) != crc) return Corrupt(tenant, name, "fails its checksum");
  FamilyState state;
  if (!state.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return Corrupt(tenant, name, "does not parse");
  }
  if (state.family().tenant() != tenant || state.family().name() != name) {
    return Corrupt(
        tenant, name,
        absl::StrCat("belongs to ", Describe(state.family().tenant(), state.family().name())));
  }
  if (state.version() != version) {
    return Corrupt(tenant, name,
                   absl::StrCat("holds version ", state.version(), ", its row ", version));
  }
  return state;
}

FamilyState FamilyPlaceholder(absl::string_view tenant, absl::string_view name) {
  FamilyState placeholder;
  placeholder.mutable_family()->set_name(std::string(name));
  placeholder.mutable_family()->set_tenant(std::string(tenant));
  return placeholder;
}

}  // namespace autolrs::server
