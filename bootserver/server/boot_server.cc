#include "bootserver/server/boot_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bootserver/boot/store_change_follower.h"
#include "bootserver/dhcp/proxy_dhcp_server.h"
#include "bootserver/http/http_server.h"
#include "bootserver/server/io_context_pool.h"
#include "bootserver/tftp/tftp_server.h"
#include "core/file_io.h"
#include "core/log.h"
#include "core/open_file_limit.h"
#include "core/status_macros.h"

namespace midwife::bootserver {
namespace {

// Threads for HTTP handlers that wait on the state store (and, on a site
// boot server, on the upstream: docs/SITE_CACHE.md). Each holds one call in
// flight; in a boot storm the store's group commit shares one fsync among
// the reports and uploads in flight, so the more wait at once, the more
// each fsync carries. An idle thread costs its stack only.
constexpr int kBlockingThreads = 64;

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

absl::StatusOr<HostPort> SplitHostPort(const std::string& text, uint16_t default_port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return HostPort{text, default_port};
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in \"", text, "\""));
  }
  return HostPort{text.substr(0, colon), static_cast<uint16_t>(port)};
}

}  // namespace

absl::Status RunBootServer(BootServerOptions options) {
  const uint64_t open_files = RaiseOpenFileLimit();
  ASSIGN_OR_RETURN(auto repository, imagebuilder::ImageRepository::Open(options.repo_dir, true));
  ASSIGN_OR_RETURN(auto store, statestore::StateStoreClient::Connect(options.statestore));
  ASSIGN_OR_RETURN(auto registry, statestore::HostRegistryClient::Connect(options.statestore));
  ASSIGN_OR_RETURN(HostPort http, SplitHostPort(options.http, 80));
  std::unique_ptr<SiteCache> site;
  if (!options.upstream.empty()) {
    BlobCacheOptions cache;
    cache.dir = options.cache_dir.empty() ? options.repo_dir + "/site-cache" : options.cache_dir;
    cache.max_bytes = options.cache_bytes;
    cache.pin_window = options.boot.boot_window;
    ASSIGN_OR_RETURN(site, OpenSiteCache({.url = options.upstream}, std::move(cache)));
    options.boot.site = site.get();
  }

  boost::asio::io_context io;
  const int threads = options.io_threads > 0
                          ? options.io_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // TFTP transfers and HTTP connections each live on one single-threaded
  // io_context of this pool: a lock-step transfer's ACK is handled on the
  // thread that sent the block, a request never hops between threads. The
  // main io_context only accepts, answers DHCP and catches signals.
  IoContextPool workers(threads, options.idle_spin);
  HttpServerOptions http_options;
  http_options.address = http.host;
  http_options.port = http.port;
  http_options.session_executor = [&] { return workers.Next(); };
  http_options.blocking_threads = kBlockingThreads;
  // The service needs the advertised URL, which needs the bound port.
  std::unique_ptr<BootService> service;
  HttpServer http_server(io, http_options,
                         {[&](const HttpRequest& r) { return service->HandleHttp(r); },
                          [&](const HttpRequest& r) { return service->TryHandleHttp(r); }});
  RETURN_IF_ERROR(http_server.Start());
  std::string advertise = options.advertise.empty() ? http.host : options.advertise;
  if (advertise == "0.0.0.0" || advertise.empty()) {
    return absl::InvalidArgumentError("--advertise IP is needed when HTTP listens on 0.0.0.0");
  }
  if (options.boot.server_url.empty()) {
    options.boot.server_url = absl::StrCat("http://", advertise, ":", http_server.port());
  }
  service = std::make_unique<BootService>(options.boot, *repository, *store, *registry);

  std::unique_ptr<TftpServer> tftp_server;
  if (!options.tftp.empty()) {
    ASSIGN_OR_RETURN(HostPort tftp, SplitHostPort(options.tftp, 69));
    TftpServerOptions tftp_options;
    tftp_options.address = tftp.host;
    tftp_options.port = tftp.port;
    tftp_options.transfer_executor = [&] { return workers.Next(); };
    tftp_server = std::make_unique<TftpServer>(
        io, tftp_options,
        [&](const std::string& path, const std::string& ip) { return service->ResolveTftp(path, ip); });
    RETURN_IF_ERROR(tftp_server->Start());
  }
  std::unique_ptr<ProxyDhcpServer> dhcp_server;
  if (!options.proxydhcp.empty()) {
    ProxyDhcpServerOptions dhcp_options;
    std::string spec = options.proxydhcp;
    size_t first = spec.find(':');
    dhcp_options.address = spec.substr(0, first);
    if (first != std::string::npos) {
      ASSIGN_OR_RETURN(HostPort ports, SplitHostPort(spec.substr(first + 1), 4011));
      dhcp_options.dhcp_port = static_cast<uint16_t>(std::stoi(ports.host));
      dhcp_options.pxe_port = ports.port;
    }
    boost::system::error_code ec;
    auto server_ip = boost::asio::ip::make_address_v4(advertise, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--advertise ", advertise, " is not an IPv4 address"));
    dhcp_options.policy.server = server_ip.to_bytes();
    dhcp_options.policy.http_port = http_server.port();
    dhcp_options.broadcast_address = options.dhcp_broadcast_address;
    dhcp_options.client_port = options.dhcp_client_port;
    dhcp_options.on_offer = [&](const dhcp::ProxyReply& reply, const dhcp::DhcpPacket& request) {
      if (!dhcp::IsZero(request.ciaddr)) service->NoteClientAddress(reply.mac, dhcp::Ipv4ToString(request.ciaddr));
      service->NotePhase(reply.mac.ToString(), "proxydhcp");
    };
    dhcp_server = std::make_unique<ProxyDhcpServer>(io, dhcp_options);
    RETURN_IF_ERROR(dhcp_server->Start());
  }

  service->SetExtraMetrics([&]() {
    std::string out;
    const HttpCounters& http_counters = http_server.counters();
    absl::StrAppend(&out, "# TYPE midwife_http_connections_refused_total counter\n",
                    "midwife_http_connections_refused_total ",
                    http_counters.connections_refused.load(), "\n",
                    "# TYPE midwife_http_accept_errors_total counter\n",
                    "midwife_http_accept_errors_total ", http_counters.accept_errors.load(), "\n");
    if (tftp_server) {
      const TftpCounters& c = tftp_server->counters();
      absl::StrAppend(&out, "# TYPE midwife_tftp_transfers_total counter\n",
                      "midwife_tftp_transfers_total{result=\"done\"} ", c.transfers_done.load(), "\n",
                      "midwife_tftp_transfers_total{result=\"failed\"} ", c.transfers_failed.load(), "\n",
                      "midwife_tftp_transfers_total{result=\"refused\"} ", c.refused.load(), "\n",
                      "# TYPE midwife_tftp_bytes_total counter\nmidwife_tftp_bytes_total ", c.bytes_sent.load(), "\n",
                      "# TYPE midwife_tftp_retransmissions_total counter\nmidwife_tftp_retransmissions_total ",
                      c.retransmissions.load(), "\n");
      absl::StrAppend(&out, "# TYPE midwife_tftp_duplicate_requests_total counter\n",
                      "midwife_tftp_duplicate_requests_total ", c.duplicate_requests.load(), "\n");
    }
    if (dhcp_server) {
      const ProxyDhcpCounters& c = dhcp_server->counters();
      absl::StrAppend(&out, "# TYPE midwife_proxydhcp_packets_total counter\n",
                      "midwife_proxydhcp_packets_total{result=\"answered\"} ", c.replies.load(), "\n",
                      "midwife_proxydhcp_packets_total{result=\"ignored\"} ", c.ignored.load(), "\n",
                      "midwife_proxydhcp_packets_total{result=\"malformed\"} ", c.malformed.load(), "\n");
    }
    if (site) out += site->RenderMetrics();
    return out;
  });
  std::unique_ptr<StoreChangeFollower> follower;  // before `service` goes: it feeds it
  if (options.follow_store_changes) {
    ASSIGN_OR_RETURN(follower, StoreChangeFollower::Start({.store = options.statestore}, *service));
  }
  std::string ready = absl::StrCat("http=", advertise, ":", http_server.port());
  if (tftp_server) absl::StrAppend(&ready, " tftp=", tftp_server->port());
  if (dhcp_server) absl::StrAppend(&ready, " dhcp=", dhcp_server->dhcp_port(), " pxe=", dhcp_server->pxe_port());
  LogEvent("bootserver.serving", {{"listen", ready}, {"repo", options.repo_dir},
                                  {"open_files", absl::StrCat(open_files)},
                                  {"statestore", options.statestore.server},
                                  {"url", options.boot.server_url},
                                  {"upstream", options.upstream}});
  if (!options.ready_file.empty()) RETURN_IF_ERROR(WriteFileAtomically(options.ready_file, ready + "\n"));

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int signal_number) {
    LogEvent("bootserver.stopping", {{"signal", std::to_string(signal_number)}});
    http_server.Stop();
    if (tftp_server) tftp_server->Stop();
    if (dhcp_server) dhcp_server->Stop();
    io.stop();
  });
  io.run();
  // io.stop() left the stopped servers' aborted operations queued (the
  // acceptor's pending accept among them, holding a socket of a worker
  // context). Run them now: destroyed with `io`, after the worker contexts,
  // they would touch a service that is gone (ASan, at every SIGTERM).
  io.restart();
  io.poll();
  if (follower) follower->Stop();
  workers.Stop();
  LogEvent("bootserver.stopped");
  return absl::OkStatus();
}

}  // namespace midwife::bootserver
