#include "server/stored_job_codec.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace autolrs::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

void CopyRepeated(const Message& from, Message* to, const FieldDescriptor* f) {
  const Reflection* r = from.GetReflection();
  const Reflection* w = to->GetReflection();
  const int n = r->FieldSize(from, f);
  for (int i = 0; i < n; ++i) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        w->AddInt32(to, f, r->GetRepeatedInt32(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        w->AddInt64(to, f, r->GetRepeatedInt64(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        w->AddUInt32(to, f, r->GetRepeatedUInt32(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        w->AddUInt64(to, f, r->GetRepeatedUInt64(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        w->AddDouble(to, f, r->GetRepeatedDouble(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        w->AddFloat(to, f, r->GetRepeatedFloat(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        w->AddBool(to, f, r->GetRepeatedBool(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        w->AddEnumValue(to, f, r->GetRepeatedEnumValue(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        w->AddString(to, f, r->GetRepeatedString(from, f, i));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        w->AddMessage(to, f)->CopyFrom(r->GetRepeatedMessage(from, f, i));
        break;
    }
  }
}

void CopySingular(const Message& from, Message* to, const FieldDescriptor* f) {
  const Reflection* r = from.GetReflection();
  const Reflection* w = to->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      w->SetInt32(to, f, r->GetInt32(from, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      w->SetInt64(to, f, r->GetInt64(from, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      w->SetUInt32(to, f, r->GetUInt32(from, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      w->SetUInt64(to, f, r->GetUInt64(from, f));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      w->SetDouble(to, f, r->GetDouble(from, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      w->SetFloat(to, f, r->GetFloat(from, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      w->SetBool(to, f, r->GetBool(from, f));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      w->SetEnumValue(to, f, r->GetEnumValue(from, f));
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      w->SetString(to, f, r->GetString(from, f));
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      w->MutableMessage(to, f)->CopyFrom(r->GetMessage(from, f));
      break;
  }
}

// Copies every set field of `from` but `skip` into `to` (same type), so that
// the big field is never copied and fields added later are never forgotten.
void CopyAllBut(const Message& from, Message* to, const FieldDescriptor* skip) {
  std::vector<const FieldDescriptor*> fields;
  from.GetReflection()->ListFields(from, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f == skip) continue;
    if (f->is_repeated()) {
      CopyRepeated(from, to, f);
    } else {
      CopySingular(from, to, f);
    }
  }
}

absl::Status Corrupt(absl::string_view job_id, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("job '", job_id, "': stored ", what));
}

}  // namespace

uint32_t Crc32c(absl::string_view data) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string EncodeHead(const JobState& state) {
  JobState head;
  CopyAllBut(state, &head,
             JobState::descriptor()->FindFieldByNumber(JobState::kScheduleFieldNumber));
  if (state.has_schedule()) {
    CopyAllBut(state.schedule(), head.mutable_schedule(),
               v1::Schedule::descriptor()->FindFieldByNumber(v1::Schedule::kStagesFieldNumber));
  }
  return head.SerializeAsString();
}

std::string EncodeStage(const v1::Stage& stage) { return stage.SerializeAsString(); }

absl::StatusOr<JobState> DecodeStoredJob(absl::string_view job_id, absl::string_view head,
                                         int64_t head_crc, int64_t stage_count,
                                         const std::vector<StoredStage>& stages) {
  if (Crc32c(head) != head_crc) return Corrupt(job_id, "head record fails its checksum");
  JobState state;
  if (!state.ParseFromArray(head.data(), static_cast<int>(head.size()))) {
    return Corrupt(job_id, "head record does not parse");
  }
  if (state.job().job_id() != job_id) {
    return Corrupt(job_id, absl::StrCat("head record belongs to job '", state.job().job_id(), "'"));
  }
  if (state.schedule().stages_size() != 0) return Corrupt(job_id, "head record holds stages");
  if (stage_count < 0 || static_cast<int64_t>(stages.size()) != stage_count) {
    return Corrupt(
        job_id, absl::StrCat("job has ", stages.size(), " stage records, expected ", stage_count));
  }
  for (int64_t i = 0; i < stage_count; ++i) {
    const StoredStage& s = stages[i];
    if (s.index != i) return Corrupt(job_id, absl::StrCat("stage ", i, " is missing"));
    if (Crc32c(s.bytes) != s.crc) {
      return Corrupt(job_id, absl::StrCat("stage ", i, " fails its checksum"));
    }
    if (!state.mutable_schedule()->add_stages()->ParseFromArray(s.bytes.data(),
                                                                static_cast<int>(s.bytes.size()))) {
      return Corrupt(job_id, absl::StrCat("stage ", i, " does not parse"));
    }
  }
  return state;
}

}  // namespace autolrs::server
