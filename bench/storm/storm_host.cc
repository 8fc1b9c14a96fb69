#include "bench/storm/storm_host.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bench/storm/http_connection.h"
#include "core/sha256.h"
#include "imagebuilder/boot_cfg.h"

namespace midwife::bench {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

HostResult Failed(std::string kind, std::string why) {
  HostResult r;
  r.failure_kind = std::move(kind);
  r.failure = std::move(why);
  return r;
}

// iPXE's expansion of the discovery script's settings, for a VMware-made host.
std::string ExpandIpxeSettings(std::string url) {
  return absl::StrReplaceAll(url, {{"${platform}", "pcbios"},
                                   {"${manufacturer:uristring}", "VMware%2C%20Inc."},
                                   {"${product:uristring}", "Storm"},
                                   {"${serial:uristring}", ""},
                                   {"${uuid}", ""},
                                   {"${ip}", "127.0.0.1"}});
}

struct ScriptLine {
  std::string verb;
  std::vector<std::string> words;
};

std::vector<ScriptLine> ParseScript(const std::string& script) {
  std::vector<ScriptLine> out;
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.empty() || words[0][0] == '#') continue;
    ScriptLine l{words[0], {words.begin() + 1, words.end()}};
    out.push_back(std::move(l));
  }
  return out;
}

std::string KernelOption(const std::string& kernelopt, const std::string& key) {
  for (absl::string_view word : absl::StrSplit(kernelopt, ' ', absl::SkipEmpty())) {
    if (absl::StartsWith(word, key + "=")) return std::string(word.substr(key.size() + 1));
  }
  return "";
}

}  // namespace

asio::awaitable<HostResult> BootHost(asio::any_io_executor executor, const StackPorts& ports,
                                     DhcpHub* dhcp, const HostPlan& plan,
                                     const StormSettings& settings) {
  const auto start = Clock::now();
  const auto deadline = start + settings.give_up;
  HostResult result;
  auto phase_start = start;
  // Closes the step under way: its time is the time since the previous one ended.
  auto end_phase = [&](BootPhase phase) {
    const auto now = Clock::now();
    result.phase_seconds[static_cast<int>(phase)] +=
        std::chrono::duration<double>(now - phase_start).count();
    phase_start = now;
  };
  std::string boot_file = "undionly.kpxe";
  if (ports.dhcp != 0 && dhcp != nullptr) {
    auto file = co_await dhcp->PxeExchange(plan.mac, ports.dhcp, ports.pxe);
    if (!file.ok()) co_return Failed("dhcp", std::string(file.status().message()));
    boot_file = *file;
  }
  end_phase(BootPhase::kDhcp);
  auto tftp = co_await TftpFetch(executor, ports.tftp, boot_file, settings.tftp);
  if (!tftp.ok()) co_return Failed("tftp", std::string(tftp.status().message()));
  result.bytes += *tftp;
  end_phase(BootPhase::kTftp);

  HttpConnection http(executor, ports.http, settings.http_timeout);
  const std::string host_path = absl::StrCat("/boot/", plan.mac.ToDashed());
  std::string target = host_path + "/boot.ipxe";
  std::vector<ScriptLine> script;
  // Follow the chain of scripts to the one that boots, waiting on "retry".
  for (int hops = 0;; ++hops) {
    if (Clock::now() > deadline || hops > 1000)
      co_return Failed("script", "no boot script in time: " + target);
    auto reply = co_await http.Get(target, true);
    if (!reply.ok()) {
      // The server is down or restarting: iPXE's "chain" fails, the host retries.
      ++result.retries;
      asio::steady_timer pause(executor, settings.retry_pause);
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    if (reply->status != 200)
      co_return Failed("script", absl::StrCat(target, ": HTTP ", reply->status));
    result.bytes += reply->body_bytes;
    script = ParseScript(reply->body);
    bool boots = false;
    bool retry = false;
    std::string next;
    for (const ScriptLine& l : script) {
      if (l.verb == "sleep") retry = true;
      if (l.verb == "kernel" || (l.verb == "chain" && l.words.size() >= 3 && l.words[1] == "-c"))
        boots = true;
      if (l.verb == "chain" && !l.words.empty()) next = ExpandIpxeSettings(UrlPath(l.words[0]));
    }
    if (boots) break;
    if (next.empty()) co_return Failed("script", target + ": neither boots nor chains");
    if (retry) {
      ++result.retries;
      asio::steady_timer pause(executor, settings.retry_pause);
      co_await pause.async_wait(asio::use_awaitable);
    }
    target = next;
  }
  end_phase(BootPhase::kScript);

  // What the firmware fetches: the loader and boot.cfg (mboot), or the
  // kernel and modules straight from the script.
  std::vector<std::string> fetch;
  std::string state_target;
  std::string token;
  for (const ScriptLine& l : script) {
    if (l.verb == "chain" && l.words.size() >= 3 && l.words[1] == "-c") {
      auto loader = co_await http.Get(UrlPath(l.words[0]), false);
      if (!loader.ok() || loader->status != 200) co_return Failed("module", "loader " + l.words[0]);
      result.bytes += loader->body_bytes;
      const std::string cfg_target = UrlPath(l.words[2]);
      auto cfg_text = co_await http.Get(cfg_target, true);
      if (!cfg_text.ok() || cfg_text->status != 200) co_return Failed("bootcfg", cfg_target);
      result.bytes += cfg_text->body_bytes;
      auto cfg = imagebuilder::ParseBootCfg(cfg_text->body);
      if (!cfg.ok()) co_return Failed("bootcfg", std::string(cfg.status().message()));
      token = KernelOption(cfg->kernelopt, "MIDWIFE_TOKEN");
      const std::string dir = cfg_target.substr(0, cfg_target.rfind('/'));
      fetch.push_back(UrlPath(imagebuilder::ResolveModulePath(*cfg, cfg->kernel, dir)));
      for (const auto& m : cfg->modules)
        fetch.push_back(UrlPath(imagebuilder::ResolveModulePath(*cfg, m.path, dir)));
    } else if (l.verb == "kernel" || l.verb == "module" || l.verb == "initrd") {
      if (l.verb == "kernel") {
        for (const auto& w : l.words) {
          if (absl::StartsWith(w, "MIDWIFE_TOKEN=")) token = w.substr(14);
        }
      }
      if (!l.words.empty()) fetch.push_back(UrlPath(l.words[0]));
    }
  }
  for (const std::string& path : fetch) {
    const bool is_state =
        absl::EndsWith(path, "/state.tgz") || absl::EndsWith(path, "/state.cpio.gz");
    if (is_state) end_phase(BootPhase::kModules);
    auto got = co_await http.Get(path, is_state);
    if (!got.ok())
      co_return Failed(is_state ? "state" : "module", std::string(got.status().message()));
    if (got->status != 200)
      co_return Failed(is_state ? "state" : "module", absl::StrCat(path, ": HTTP ", got->status));
    result.bytes += got->body_bytes;
    if (is_state) state_target = path;
    if (is_state && Sha256Hex(got->body) != plan.state_sha256) {
      co_return Failed("state", path + ": not this host's state");
    }
  }
  if (!plan.state_sha256.empty() && state_target.empty())
    co_return Failed("state", "no state.tgz in the boot");
  end_phase(state_target.empty() ? BootPhase::kModules : BootPhase::kState);
  if (!settings.agent) {
    result.ok = true;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    co_return result;
  }

  std::vector<std::pair<std::string, std::string>> auth;
  auth.emplace_back("Authorization", "Bearer " + token);
  const std::string hosts_path = absl::StrCat("/hosts/", plan.mac.ToDashed());
  // As the host agent does: a refused request (4xx) is a failure, anything
  // else (5xx while the store restarts, a dropped connection) is retried
  // after a pause until the host's deadline.
  auto post_until_done = [&](const std::string& path, const std::string& body,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const char* kind) -> asio::awaitable<absl::Status> {
    for (;;) {
      auto reply = co_await http.Post(path, body, headers);
      if (reply.ok() && reply->status / 100 == 2) co_return absl::OkStatus();
      if (reply.ok() && reply->status / 100 == 4) {
        co_return absl::FailedPreconditionError(absl::StrCat("HTTP ", reply->status, " ", reply->body));
      }
      if (Clock::now() > deadline) {
        co_return absl::DeadlineExceededError(
            absl::StrCat(kind, " not accepted in time: ",
                         reply.ok() ? absl::StrCat("HTTP ", reply->status, " ", reply->body)
                                    : std::string(reply.status().message())));
      }
      ++result.retries;
      asio::steady_timer pause(executor, settings.retry_pause);
      co_await pause.async_wait(asio::use_awaitable);
    }
  };
  if (absl::Status st = co_await post_until_done(hosts_path + "/report", "status=ok&build=storm", auth, "report");
      !st.ok()) {
    co_return Failed("report", std::string(st.message()));
  }
  end_phase(BootPhase::kReport);
  std::vector<std::pair<std::string, std::string>> upload_headers = auth;
  upload_headers.emplace_back("Content-Type", "application/octet-stream");
  if (absl::Status st = co_await post_until_done(hosts_path + "/state", plan.new_state, upload_headers, "upload");
      !st.ok()) {
    co_return Failed("upload", std::string(st.message()));
  }
  end_phase(BootPhase::kUpload);
  result.ok = true;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  co_return result;
}

}  // namespace midwife::bench
