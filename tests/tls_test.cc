// TLS between the clients and the server, with a throwaway CA: the handshake
// works for a client that trusts the CA; a plain-text client and one that
// trusts another CA are refused; with --tls_client_ca_file a client needs a
// certificate from that CA (mTLS); Reload() switches to new files and keeps
// the old ones when the new ones are wrong.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "autolrs/v1/service.grpc.pb.h"
#include "client/client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "testing/test_ca.h"

namespace autolrs {
namespace {

using server::AutoLrsServer;
using server::ServerOptions;
using testing::CertFiles;
using testing::TestCa;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/tls_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    auto ca = TestCa::Create(dir_, "main");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::make_unique<TestCa>(*std::move(ca));
    auto other = TestCa::Create(dir_, "other");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ca_ = std::make_unique<TestCa>(*std::move(other));
    auto server_cert = ca_->Issue("server");
    ASSERT_TRUE(server_cert.ok()) << server_cert.status();
    server_cert_ = *server_cert;
  }

  void Start(const std::string& client_ca_file = "") {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.store = "memory:";
    options.tls = {server_cert_.cert, server_cert_.key, client_ca_file};
    auto server = AutoLrsServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string Target() const { return "localhost:" + std::to_string(server_->port()); }

  // A ListJobs through autolrs::Client over TLS.
  absl::Status ClientCall(const std::string& ca_file, const CertFiles* client_cert = nullptr) {
    ClientOptions options;
    options.target = Target();
    options.tls = true;
    options.tls_ca_file = ca_file;
    if (client_cert != nullptr) {
      options.tls_cert_file = client_cert->cert;
      options.tls_key_file = client_cert->key;
    }
    options.deadline = absl::Seconds(3);
    options.max_attempts = 1;
    auto client = Client::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->ListJobs(v1::ListJobsRequest()).status();
  }

  // A ListJobs on a raw channel (no wait for ready: a failed handshake
  // answers UNAVAILABLE at once).
  grpc::Status RawCall(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = v1::AutoLrsService::NewStub(grpc::CreateChannel(Target(), credentials));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::ListJobsResponse response;
    return stub->ListJobs(&context, v1::ListJobsRequest(), &response);
  }

  std::string dir_;
  std::unique_ptr<TestCa> ca_, other_ca_;
  CertFiles server_cert_;
  std::unique_ptr<AutoLrsServer> server_;
};

TEST_F(TlsTest, HandshakeWorksForAClientTrustingTheCa) {
  Start();
  EXPECT_TRUE(ClientCall(ca_->ca_cert()).ok()) << ClientCall(ca_->ca_cert());
  // The Python-style path: raw gRPC SSL credentials.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Read(ca_->ca_cert());
  EXPECT_TRUE(RawCall(grpc::SslCredentials(ssl)).ok());
}

TEST_F(TlsTest, PlainTextClientIsRefused) {
  Start();
  const grpc::Status status = RawCall(grpc::InsecureChannelCredentials());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, ClientNotTrustingTheCaFails) {
  Start();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Read(other_ca_->ca_cert());
  EXPECT_EQ(RawCall(grpc::SslCredentials(ssl)).error_code(), grpc::StatusCode::UNAVAILABLE);
  const absl::Status status = ClientCall(other_ca_->ca_cert());
  EXPECT_TRUE(absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) << status;
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  auto client_cert = ca_->Issue("client");
  ASSERT_TRUE(client_cert.ok()) << client_cert.status();
  auto stranger_cert = other_ca_->Issue("stranger");
  ASSERT_TRUE(stranger_cert.ok()) << stranger_cert.status();
  Start(/*client_ca_file=*/ca_->ca_cert());

  EXPECT_TRUE(ClientCall(ca_->ca_cert(), &*client_cert).ok());

  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Read(ca_->ca_cert());
  EXPECT_EQ(RawCall(grpc::SslCredentials(no_cert)).error_code(), grpc::StatusCode::UNAVAILABLE);

  grpc::SslCredentialsOptions stranger = no_cert;
  stranger.pem_cert_chain = Read(stranger_cert->cert);
  stranger.pem_private_key = Read(stranger_cert->key);
  EXPECT_EQ(RawCall(grpc::SslCredentials(stranger)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ReloadSwitchesCertificatesAndKeepsTheOldOnesWhenTheNewAreWrong) {
  Start();
  ASSERT_TRUE(ClientCall(ca_->ca_cert()).ok());

  // A key that is not the certificate's: refused, the old files stay.
  auto unrelated = ca_->Issue("unrelated");
  ASSERT_TRUE(unrelated.ok());
  std::filesystem::copy_file(unrelated->key, server_cert_.key,
                             std::filesystem::copy_options::overwrite_existing);
  const absl::Status wrong = server_->Reload();
  EXPECT_TRUE(absl::IsInvalidArgument(wrong)) << wrong;
  EXPECT_NE(wrong.message().find("is not the key of --tls_cert_file"), std::string::npos) << wrong;
  EXPECT_TRUE(ClientCall(ca_->ca_cert()).ok());

  // A certificate from another CA: new connections present it.
  auto renewed = other_ca_->Issue("renewed");
  ASSERT_TRUE(renewed.ok());
  std::filesystem::copy_file(renewed->cert, server_cert_.cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(renewed->key, server_cert_.key,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(server_->Reload().ok());
  EXPECT_TRUE(ClientCall(other_ca_->ca_cert()).ok());
  const absl::Status old_ca = ClientCall(ca_->ca_cert());
  EXPECT_FALSE(old_ca.ok());
}

TEST_F(TlsTest, StartRefusesWrongFiles) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.store = "memory:";
  options.tls = {server_cert_.cert, "", ""};
  EXPECT_TRUE(absl::IsInvalidArgument(AutoLrsServer::Start(options).status()));
  options.tls = {server_cert_.cert, dir_ + "/missing.key", ""};
  auto missing = AutoLrsServer::Start(options);
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_NE(missing.status().message().find("missing.key"), std::string::npos);
  options.tls = {server_cert_.key, server_cert_.key, ""};  // A key is no certificate.
  EXPECT_TRUE(absl::IsInvalidArgument(AutoLrsServer::Start(options).status()));
}

TEST(ClientTlsOptionsTest, AreValidated) {
  ClientOptions options;
  options.target = "localhost:1";
  options.tls_ca_file = "/nonexistent";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(options).status()));  // tls not set.
  options.tls = true;
  auto missing = Client::Create(options);
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_NE(missing.status().message().find("/nonexistent"), std::string::npos);
  options.tls_ca_file = "";
  options.tls_cert_file = "/x.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(options).status()));  // No key.
}

}  // namespace
}  // namespace autolrs
