// Round-trip and API-convention tests for every message of autolrs.v1.
#include <string>

#include "autolrs/v1/job.pb.h"
#include "autolrs/v1/service.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace autolrs::v1 {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Sets every field of `msg` (recursively, to `depth` levels of nesting) to a
// non-default value derived from the field number.
void Fill(Message* msg, int depth) {
  const Descriptor* d = msg->GetDescriptor();
  const Reflection* r = msg->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const int n = f->number();
    const int copies = f->is_repeated() ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(msg, f, n + c) : r->SetInt32(msg, f, n);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(msg, f, n * 1000 + c) : r->SetInt64(msg, f, n * 1000);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          r->SetUInt32(msg, f, n);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          r->SetUInt64(msg, f, 1ull << 40 | n);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(msg, f, n + 0.25 * c) : r->SetDouble(msg, f, n + 0.5);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          r->SetFloat(msg, f, n + 0.5f);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          r->SetBool(msg, f, true);
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          f->is_repeated() ? r->AddString(msg, f, f->name() + std::to_string(c))
                           : r->SetString(msg, f, f->name());
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const EnumDescriptor* e = f->enum_type();
          const int v = e->value(e->value_count() - 1)->number();
          f->is_repeated() ? r->AddEnumValue(msg, f, v) : r->SetEnumValue(msg, f, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth > 0) {
            Fill(f->is_repeated() ? r->AddMessage(msg, f) : r->MutableMessage(msg, f), depth - 1);
          }
          break;
      }
    }
  }
}

std::vector<const Descriptor*> AllMessages() {
  std::vector<const Descriptor*> all;
  for (const FileDescriptor* file :
       {Job::descriptor()->file(), CreateJobRequest::descriptor()->file()}) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      all.push_back(file->message_type(i));
    }
  }
  return all;
}

TEST(AutoLrsV1Test, EveryMessageRoundTripsThroughTheWireFormat) {
  google::protobuf::DynamicMessageFactory factory;
  const auto messages = AllMessages();
  ASSERT_GE(messages.size(), 16u);
  for (const Descriptor* d : messages) {
    SCOPED_TRACE(d->full_name());
    std::unique_ptr<Message> original(factory.GetPrototype(d)->New());
    Fill(original.get(), 3);
    std::string wire;
    ASSERT_TRUE(original->SerializeToString(&wire));
    if (d->field_count() > 0) {
      EXPECT_FALSE(wire.empty());
    }
    std::unique_ptr<Message> parsed(factory.GetPrototype(d)->New());
    ASSERT_TRUE(parsed->ParseFromString(wire));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*original, *parsed))
        << parsed->DebugString();
  }
}

TEST(AutoLrsV1Test, GeneratedTypesRoundTrip) {
  Action action;
  action.set_job_id("job-1");
  action.set_action_id(7);
  action.set_phase(PHASE_PROBE);
  action.set_checkpoint(CHECKPOINT_OP_RESTORE);
  action.set_lr(0.05);
  action.set_steps(100);
  action.add_eval_steps(50);
  action.add_eval_steps(100);
  Action parsed;
  ASSERT_TRUE(parsed.ParseFromString(action.SerializeAsString()));
  EXPECT_EQ(parsed.phase(), PHASE_PROBE);
  EXPECT_EQ(parsed.checkpoint(), CHECKPOINT_OP_RESTORE);
  EXPECT_DOUBLE_EQ(parsed.lr(), 0.05);
  EXPECT_EQ(parsed.eval_steps_size(), 2);
}

TEST(AutoLrsV1Test, EveryEnumStartsWithUnspecifiedZero) {
  for (const FileDescriptor* file :
       {Job::descriptor()->file(), CreateJobRequest::descriptor()->file()}) {
    for (int i = 0; i < file->enum_type_count(); ++i) {
      const EnumDescriptor* e = file->enum_type(i);
      SCOPED_TRACE(e->full_name());
      ASSERT_GT(e->value_count(), 1);
      EXPECT_EQ(e->value(0)->number(), 0);
      EXPECT_NE(e->value(0)->name().find("_UNSPECIFIED"), std::string::npos);
    }
  }
}

TEST(AutoLrsV1Test, ServiceDeclaresTheDocumentedRpcs) {
  const auto* service = CreateJobRequest::descriptor()->file()->FindServiceByName("AutoLrsService");
  ASSERT_NE(service, nullptr);
  for (const char* rpc : {"CreateJob", "GetJob", "ListJobs", "DeleteJob", "NextAction",
                          "ReportLosses", "GetSchedule"}) {
    EXPECT_NE(service->FindMethodByName(rpc), nullptr) << rpc;
  }
}

}  // namespace
}  // namespace autolrs::v1
