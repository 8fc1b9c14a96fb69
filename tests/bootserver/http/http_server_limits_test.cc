// The HTTP server's size and time bounds against a real HttpServer on a
// loopback port, spoken to over plain sockets so the test controls every
// byte: headers over the bound get 431, a body declared over the bound gets
// 413 before any of it is sent, connections over the cap are closed while
// the others keep being served, and a client that stops sending or reading
// is let go after the I/O timeout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bootserver/http/http_server.h"
#include "bootserver/server/io_context_pool.h"
#include "core/unique_fd.h"
#include "tests/support/child_process.h"
#include "tests/support/descriptor_shortage.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace midwife::bootserver {
namespace {

using ::testing::HasSubstr;
using ::midwife::testing::TempDir;

// What came back on a connection: a status and body, or nothing (the server
// closed or reset the connection without answering).
struct Reply {
  int status = 0;  // 0: no response.
  std::string body;
};

// A blocking client socket on 127.0.0.1:`port`; every read and write gives
// up after 10 s, so a server that never answers fails the test, not hangs it.
UniqueFd Connect(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  return fd;
}

// False if the peer stopped taking bytes (closed or reset).
bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one response (status line, headers, Content-Length body).
Reply ReadReply(int fd) {
  std::string in;
  char buf[4096];
  size_t header_end = std::string::npos;
  size_t body_length = 0;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const size_t at = in.find("\r\nContent-Length: ");
        if (at != std::string::npos && at < header_end) {
          const size_t from = at + 18;
          EXPECT_TRUE(
              absl::SimpleAtoi(in.substr(from, in.find("\r\n", from) - from), &body_length));
        }
      }
    }
    if (header_end != std::string::npos && in.size() >= header_end + 4 + body_length) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      EXPECT_FALSE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << "no answer within 10 s";
      return {};
    }
    in.append(buf, static_cast<size_t>(n));
  }
  Reply reply;
  // "HTTP/1.1 200 OK"
  EXPECT_TRUE(in.starts_with("HTTP/1.1 ")) << in.substr(0, 80);
  EXPECT_TRUE(absl::SimpleAtoi(in.substr(9, 3), &reply.status)) << in.substr(0, 80);
  reply.body = in.substr(header_end + 4, body_length);
  return reply;
}

// Sends `request` and reads the answer. A server that answers before it
// has read the whole request and closes may make the send fail; what it
// answered can still be read.
Reply Exchange(int fd, std::string_view request) {
  SendAll(fd, request);
  return ReadReply(fd);
}

std::string Get(const std::string& extra_headers = "") {
  return absl::StrCat("GET /ping HTTP/1.1\r\nHost: test\r\n", extra_headers, "\r\n");
}

std::string PostHeader(uint64_t content_length) {
  return absl::StrCat("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: ", content_length,
                      "\r\n\r\n");
}

// A real HttpServer on 127.0.0.1:0 whose connections run on a pool of
// single-threaded io_contexts, as in the daemon (bootserver/server/boot_server.cc).
// The handler answers 200 with the size of the body it was given.
class HttpServerLimitsTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options) {
    options.address = "127.0.0.1";
    options.port = 0;
    options.session_executor = [this] { return workers_.Next(); };
    // "/slow" is declined on the I/O thread and answered on the blocking
    // pool, as the boot service does with requests that wait on the store.
    server_ = std::make_unique<HttpServer>(
        io_, options,
        HttpHandlers{[this](const HttpRequest& r) { return Handle(r); },
                     [this](const HttpRequest& r) -> std::optional<HttpResponse> {
                       if (r.path == "/slow") return std::nullopt;
                       return Handle(r);
                     }});
    ASSERT_TRUE(server_->Start().ok());
    io_thread_ = std::thread([this] { io_.run(); });
  }
  // io_ is left to run dry rather than stopped: a stopped io_context keeps
  // the acceptor's aborted accept (holding a socket and strand of a worker
  // context) until it is destroyed, after workers_ (ASan: use-after-free).
  void TearDown() override {
    if (server_) server_->Stop();
    work_.reset();
    if (io_thread_.joinable()) io_thread_.join();
    workers_.Stop();
  }
  uint16_t port() const { return server_->port(); }

  // "/big": the file big_file_ names, sent with sendfile; "/slow": 200 after
  // slow_handler_; anything else: 200 with the size of the body it was given.
  HttpResponse Handle(const HttpRequest& r) {
    ++handled_;
    if (r.path == "/big") {
      const int fd = ::open(big_file_.c_str(), O_RDONLY | O_CLOEXEC);
      EXPECT_GE(fd, 0) << big_file_;
      HttpResponse response;
      response.file = FileRange{std::make_shared<OpenFile>(fd), 0, big_file_bytes_};
      return response;
    }
    if (r.path == "/slow") {
      std::this_thread::sleep_for(slow_handler_);
      return TextResponse(200, "slow");
    }
    largest_body_ = std::max(largest_body_.load(), r.body.size());
    return TextResponse(200, absl::StrCat("got ", r.body.size(), " bytes"));
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      boost::asio::make_work_guard(io_)};
  IoContextPool workers_{2};
  std::unique_ptr<HttpServer> server_;
  std::thread io_thread_;
  std::atomic<int> handled_{0};
  std::atomic<size_t> largest_body_{0};
  std::string big_file_;
  uint64_t big_file_bytes_ = 0;
  std::chrono::milliseconds slow_handler_{0};
};

TEST_F(HttpServerLimitsTest, DefaultBoundsAreTheDocumentedOnes) {
  const HttpServerOptions defaults;
  EXPECT_EQ(defaults.max_header_bytes, 16u * 1024);
  EXPECT_EQ(defaults.max_body_bytes, 64u << 20);
  EXPECT_EQ(defaults.max_connections, 10000u);
}

TEST_F(HttpServerLimitsTest, HeadersOverTheBoundGet431NamingItAndOthersAreStillServed) {
  StartServer({});
  const size_t bound = HttpServerOptions{}.max_header_bytes;
  UniqueFd under = Connect(port());
  const Reply fits =
      Exchange(under.get(), Get("X-Fill: " + std::string(bound - 1024, 'a') + "\r\n"));
  EXPECT_EQ(fits.status, 200) << fits.body;

  UniqueFd over = Connect(port());
  const Reply big = Exchange(over.get(), Get("X-Fill: " + std::string(bound + 1024, 'a') + "\r\n"));
  EXPECT_EQ(big.status, 431);
  EXPECT_THAT(big.body, HasSubstr(std::to_string(bound)));
  // The refused connection is closed; nothing of it reached the handler.
  char byte;
  const ssize_t after_431 = ::recv(over.get(), &byte, 1, 0);
  EXPECT_TRUE(after_431 == 0 || (after_431 < 0 && errno == ECONNRESET)) << "still open";
  EXPECT_EQ(handled_.load(), 1);

  // Many small headers adding up past the bound count the same.
  std::string many;
  for (size_t i = 0; many.size() <= bound; ++i)
    absl::StrAppend(&many, "X-H", i, ": 0123456789\r\n");
  UniqueFd split = Connect(port());
  EXPECT_EQ(Exchange(split.get(), Get(many)).status, 431);

  // The connection that kept to the bound, and a new one, are still served.
  EXPECT_EQ(Exchange(under.get(), Get()).status, 200);
  UniqueFd after = Connect(port());
  EXPECT_EQ(Exchange(after.get(), Get()).status, 200);
}

TEST_F(HttpServerLimitsTest, BodyDeclaredOverTheBoundIs413BeforeAByteOfItIsSent) {
  StartServer({});
  const uint64_t bound = HttpServerOptions{}.max_body_bytes;
  UniqueFd over = Connect(port());
  // Only the header goes out: an answer proves the body was not waited for.
  const Reply refused = Exchange(over.get(), PostHeader(bound + 1));
  EXPECT_EQ(refused.status, 413);
  EXPECT_THAT(refused.body, HasSubstr(std::to_string(bound)));
  EXPECT_EQ(handled_.load(), 0);

  // Exactly the bound is taken, body and all.
  UniqueFd at = Connect(port());
  ASSERT_TRUE(SendAll(at.get(), PostHeader(bound)));
  ASSERT_TRUE(SendAll(at.get(), std::string(bound, 'b')));
  const Reply taken = ReadReply(at.get());
  EXPECT_EQ(taken.status, 200);
  EXPECT_EQ(taken.body, absl::StrCat("got ", bound, " bytes\n"));
}

// A client that sends its whole body without waiting (curl does for small
// uploads) gets the 413 and then an orderly close. Closing on unread bytes
// would make the kernel answer with a reset, which on a real network throws
// away whatever of the answer is still unsent or unread; so after answering,
// the server reads and drops what the client still sends (for a bounded
// time), as nginx's lingering close does.
TEST_F(HttpServerLimitsTest, AfterA413TheConnectionClosesInOrderNotWithAReset) {
  HttpServerOptions options;
  options.max_body_bytes = 64 * 1024;
  StartServer(options);
  UniqueFd fd = Connect(port());
  // More than the socket buffers hold, so the server cannot have it all
  // queued unread when it answers.
  const size_t body_bytes = 16 << 20;
  ASSERT_TRUE(SendAll(fd.get(), PostHeader(body_bytes)));
  // A reset shows as a failed send (EPIPE or ECONNRESET) to the client.
  std::atomic<bool> body_sent{false};
  std::atomic<int> send_error{0};
  std::thread body([&] {
    body_sent = SendAll(fd.get(), std::string(body_bytes, 'b'));
    send_error = errno;
    ::shutdown(fd.get(), SHUT_WR);
  });
  const Reply reply = ReadReply(fd.get());
  body.join();
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(body_sent.load()) << "the server reset the connection: "
                                << std::strerror(send_error.load());
  char byte;
  EXPECT_EQ(::recv(fd.get(), &byte, 1, 0), 0) << "expected the end of the stream";
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerLimitsTest, ChunkedBodyGrowingPastTheBoundNeverReachesTheHandler) {
  HttpServerOptions options;
  options.max_body_bytes = 64 * 1024;  // The same check as 64 MiB, sent quicker.
  StartServer(options);
  UniqueFd fd = Connect(port());
  std::string request = "POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(4096, 'c');
  for (int i = 0; i < 32; ++i) absl::StrAppend(&request, "1000\r\n", chunk, "\r\n");
  absl::StrAppend(&request, "0\r\n\r\n");
  // The server answers and closes before it has read everything: the send
  // may fail, the answer is still there to read.
  const Reply reply = Exchange(fd.get(), request);
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_EQ(largest_body_.load(), 0u);
  UniqueFd after = Connect(port());
  EXPECT_EQ(Exchange(after.get(), Get()).status, 200);
}

TEST_F(HttpServerLimitsTest, ConnectionsOverTheCapAreClosedWhileTheOthersKeepWorking) {
  constexpr size_t kCap = 4;
  HttpServerOptions options;
  options.max_connections = kCap;
  StartServer(options);

  // Opened all at once, before any is served: the cap holds even while the
  // first connections have not yet started on their threads.
  std::vector<UniqueFd> clients;
  for (size_t i = 0; i < 2 * kCap; ++i) clients.push_back(Connect(port()));
  size_t served = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    const Reply reply = Exchange(clients[i].get(), Get());
    if (i < kCap) {
      EXPECT_EQ(reply.status, 200) << "connection " << i << " within the cap";
      ++served;
    } else {
      EXPECT_EQ(reply.status, 0) << "connection " << i << " over the cap was answered";
    }
  }
  EXPECT_EQ(served, kCap);
  EXPECT_EQ(server_->counters().connections_refused.load(), kCap);

  // The ones within the cap keep being served, request after request.
  for (size_t i = 0; i < kCap; ++i) EXPECT_EQ(Exchange(clients[i].get(), Get()).status, 200);

  // One closes; its place is free again once the server has seen it go.
  clients[0] = UniqueFd();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Reply replacement;
  while (replacement.status == 0 && std::chrono::steady_clock::now() < deadline) {
    UniqueFd fd = Connect(port());
    replacement = Exchange(fd.get(), Get());
    if (replacement.status != 0) clients[0] = std::move(fd);
  }
  EXPECT_EQ(replacement.status, 200) << "a freed place was never given to a new connection";
  UniqueFd one_more = Connect(port());
  EXPECT_EQ(Exchange(one_more.get(), Get()).status, 0) << "the cap was lifted, not kept";
}

TEST_F(HttpServerLimitsTest, OutOfDescriptorsTheAcceptorPausesInsteadOfSpinningAndRecovers) {
  StartServer({});
  {
    UniqueFd warm = Connect(port());
    ASSERT_EQ(Exchange(warm.get(), Get()).status, 200);
  }
  // The client's socket first; then no descriptor is left for the server's
  // side of the connection: the lowest free number becomes the limit.
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(client.get(), 0);
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  midwife::testing::DescriptorShortage shortage;
  ASSERT_TRUE(shortage.active());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int connected = ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const bool sent = connected == 0 && SendAll(client.get(), Get());
  // Watch the acceptor for a while (this sleep measures, it waits for nothing):
  // failing again at once, it would fail thousands of times.
  constexpr auto kWatch = std::chrono::milliseconds(500);
  std::this_thread::sleep_for(kWatch);
  const uint64_t errors = server_->counters().accept_errors.load();
  ASSERT_TRUE(shortage.End());
  ASSERT_EQ(connected, 0) << std::strerror(errno);
  ASSERT_TRUE(sent);
  EXPECT_GE(errors, 1u) << "the server never ran out of descriptors: the test proves nothing";
  EXPECT_LE(errors, static_cast<uint64_t>(kWatch / HttpServer::kAcceptPause) + 2)
      << "the acceptor spun";
  // With descriptors back, the queued connection is accepted and answered.
  EXPECT_EQ(ReadReply(client.get()).status, 200);
}

}  // namespace
}  // namespace midwife::bootserver

namespace midwife::bootserver {
namespace {

// Waits for the server to end the connection; the seconds it took.
double SecondsUntilClosed(int fd) {
  const auto start = std::chrono::steady_clock::now();
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) continue;
    EXPECT_FALSE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << "not closed within 10 s";
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
}

TEST_F(HttpServerLimitsTest, AClientThatSendsNothingOrHalfAHeaderIsClosedAfterTheIoTimeout) {
  HttpServerOptions options;
  options.io_timeout = std::chrono::seconds(1);
  StartServer(options);
  UniqueFd silent = Connect(port());
  UniqueFd half = Connect(port());
  ASSERT_TRUE(SendAll(half.get(), "GET /ping HTTP/1.1\r\nHost: te"));
  UniqueFd idle = Connect(port());  // Silent after one answered request.
  EXPECT_EQ(Exchange(idle.get(), Get()).status, 200);
  for (int fd : {silent.get(), half.get(), idle.get()}) {
    const double seconds = SecondsUntilClosed(fd);
    EXPECT_LT(seconds, 5.0);
  }
  EXPECT_EQ(handled_.load(), 1);
}

// The wait for a full socket buffer to drain has the same bound as a read:
// a host that stops reading a module does not hold its connection forever.
TEST_F(HttpServerLimitsTest, AClientThatStopsReadingAFileIsDroppedAfterTheIoTimeout) {
  TempDir tmp;
  big_file_ = tmp.File("big");
  big_file_bytes_ = 64 << 20;  // Far more than the loopback socket buffers hold.
  ASSERT_EQ(::truncate((std::ofstream(big_file_), big_file_).c_str(),
                       static_cast<off_t>(big_file_bytes_)), 0);
  HttpServerOptions options;
  options.io_timeout = std::chrono::seconds(1);
  StartServer(options);
  UniqueFd fd = Connect(port());
  ASSERT_TRUE(SendAll(fd.get(), "GET /big HTTP/1.1\r\nHost: test\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::seconds(3));  // Not reading.
  uint64_t received = 0;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      EXPECT_FALSE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << "still open after 10 s";
      break;
    }
    received += static_cast<uint64_t>(n);
  }
  EXPECT_GT(received, 0u);
  EXPECT_LT(received, big_file_bytes_) << "the server waited for the client to read it all";
}

// The I/O timeout bounds the client, not the server: a handler that waits
// longer on the state store still gets its answer out.
TEST_F(HttpServerLimitsTest, AHandlerSlowerThanTheIoTimeoutStillAnswers) {
  HttpServerOptions options;
  options.io_timeout = std::chrono::seconds(1);
  slow_handler_ = std::chrono::milliseconds(1800);
  StartServer(options);
  UniqueFd fd = Connect(port());
  const Reply slow = Exchange(fd.get(), "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n");
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.body, "slow\n");
  EXPECT_EQ(Exchange(fd.get(), Get()).status, 200);  // and the connection goes on
}

}  // namespace
}  // namespace midwife::bootserver
