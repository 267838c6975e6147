#ifndef AUTOLRS_SERVER_FAMILY_RECORDS_H_
#define AUTOLRS_SERVER_FAMILY_RECORDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/job_state.pb.h"

namespace autolrs::server {

// What every JobStore shares about family records (JobStore::GetFamily and
// the rest): the checks and errors of the contract, and how a durable store
// keeps one FamilyState: its serialized bytes with a CRC-32C
// (stored_job_codec.h's Crc32c), so corrupted bytes are detected when read.
//
// Pure functions; thread-safe.

// INVALID_ARGUMENT, naming the family, when `state` cannot be written: a
// version below 1 or an empty name. Checked before a store writes anything.
absl::Status CheckFamilyWrite(const FamilyState& state);

// The contract's answers, with messages naming the family (and its tenant).
absl::Status NoFamily(absl::string_view tenant, absl::string_view name);      // NOT_FOUND
absl::Status FamilyExists(absl::string_view tenant, absl::string_view name);  // ALREADY_EXISTS
absl::Status FamilyVersionMismatch(absl::string_view tenant, absl::string_view name,
                                   int64_t stored_version, int64_t new_version);  // ABORTED

// The record stored for `state`: its serialization (every field, also ones
// added later).
std::string EncodeFamily(const FamilyState& state);

// The FamilyState stored under (tenant, name) with version column `version`.
// DATA_LOSS, naming the family, when `crc` is not the record's CRC-32C, the
// record does not parse, or it holds another family or another version.
absl::StatusOr<FamilyState> DecodeStoredFamily(absl::string_view tenant, absl::string_view name,
                                               int64_t version, absl::string_view record,
                                               int64_t crc);

// What ListFamilies lists for a corrupt record: the name and tenant only,
// version 0.
FamilyState FamilyPlaceholder(absl::string_view tenant, absl::string_view name);

}  // namespace autolrs::server

#endif  // AUTOLRS_SERVER_FAMILY_RECORDS_H_
