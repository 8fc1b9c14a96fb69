// bootserver: the daemon that boots diskless hosts (`serve`), and the admin
// commands that say which host boots what.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bootserver/cli/admin_commands.h"
#include "bootserver/server/boot_server.h"
#include "core/abseil_runtime.h"
#include "core/file_io.h"

int main(int argc, char** argv) {
  midwife::TurnOffAbseilDeadlockDetection();
  CLI::App app{"midwife boot server: ProxyDHCP, TFTP and HTTP for diskless hosts"};
  app.require_subcommand(1);
  midwife::bootserver::BootServerOptions serve_options;
  midwife::statestore::ClientOptions& store = serve_options.statestore;
  std::string token_file = "data/statestore/admin.token";

  CLI::App* serve = app.add_subcommand("serve", "run ProxyDHCP, TFTP and HTTP");
  serve->add_option("--repo", serve_options.repo_dir, "image repository")->capture_default_str();
  serve->add_option("--http", serve_options.http, "HTTP address:port")->capture_default_str();
  serve->add_option("--tftp", serve_options.tftp, "TFTP address:port (empty: off)")->capture_default_str();
  serve->add_option("--proxydhcp", serve_options.proxydhcp, "ProxyDHCP address[:dhcp_port:pxe_port] (default off; 0.0.0.0 for 67 and 4011)");
  serve->add_option("--advertise", serve_options.advertise, "IPv4 address hosts reach this server at");
  serve->add_option("--ready-file", serve_options.ready_file, "write the bound ports here once serving");
  serve->add_option("--threads", serve_options.io_threads, "I/O threads (0: one per core)");
  int idle_spin_us = static_cast<int>(serve_options.idle_spin.count());
  serve->add_option("--idle-spin-us", idle_spin_us,
                    "microseconds an I/O thread out of work polls for more before sleeping, while "
                    "its recent idle gaps were that short (0: sleep at once)")
      ->capture_default_str()->check(CLI::Range(0, 10000));
  serve->add_option("--ipxe-dir", serve_options.boot.ipxe_dir, "iPXE binaries")->capture_default_str();
  serve->add_option("--birth-hook", serve_options.boot.birth_hook, "command run on each birth report");
  int boot_window_seconds = static_cast<int>(serve_options.boot.boot_window.count());
  serve->add_option("--boot-window", boot_window_seconds,
                    "seconds a boot decision answers for a host's boot.cfg and state.tgz")
      ->capture_default_str()->check(CLI::Range(1, 86400));
  serve->add_option("--upstream", serve_options.upstream,
                    "site boot server: pull images and blobs the repository lacks from this boot server (http://HOST:PORT)");
  serve->add_option("--cache-dir", serve_options.cache_dir, "where pulled blobs are kept (default REPO/site-cache)");
  serve->add_option("--cache-bytes", serve_options.cache_bytes,
                    "bound of the pulled-blob cache; least recently served blobs of images not booted within the boot window are evicted past it")
      ->capture_default_str();
  serve->add_flag(
      "!--no-store-watch", serve_options.follow_store_changes,
      "do not follow the state store's change feed (caches then learn of new backups and "
      "assignment changes only at each host's next boot)");
  serve->add_option("--dhcp-broadcast-address", serve_options.dhcp_broadcast_address, "where broadcast replies go (tests)")->capture_default_str();
  serve->add_option("--dhcp-client-port", serve_options.dhcp_client_port, "client port of replies (tests)")->capture_default_str();

  midwife::bootserver::cli::AdminCommand command;
  auto add_store_flags = [&](CLI::App* sub) {
    sub->add_option("--statestore", store.server, "state store address")->capture_default_str();
    sub->add_option("--statestore-token-file", token_file, "admin token of the state store")->capture_default_str();
    sub->add_option("--statestore-ca", store.tls_ca_file, "CA to trust the state store by (TLS)");
    sub->add_option("--statestore-cert", store.tls_cert_file,
                    "client certificate for a state store that asks for one (mutual TLS)");
    sub->add_option("--statestore-key", store.tls_key_file, "its key (PEM, mode 0600)");
  };
  add_store_flags(serve);
  auto admin = [&](const char* name, const char* help, bool needs_mac = true) {
    CLI::App* sub = app.add_subcommand(name, help);
    add_store_flags(sub);
    sub->add_flag("--json", command.json, "print JSON");
    if (needs_mac) sub->add_option("--mac", command.mac, "host MAC address")->required();
    return sub;
  };
  admin("assign", "publish an image to a host (its inactive bank, as a trial)")
      ->add_option("--image", command.image, "name@version")->required();
  admin("unassign", "withdraw a host's assignment");
  admin("rollback", "flip a host's boot banks");
  admin("alias", "add another MAC of the same host")->add_option("--alias", command.alias, "alias MAC")->required();
  admin("host", "show a host's record");
  admin("hosts", "list hosts, discovered ones too", false);
  admin("events", "a host's bank and boot history, newest first")->add_option("--limit", command.limit, "at most this many");
  admin("rules", "show the rules, or --set FILE (JSON {\"rules\":[...]})", false)
      ->add_option("--set", command.rules_file, "rules file");

  CLI11_PARSE(app, argc, argv);
  CLI::App* chosen = app.get_subcommands().front();
  auto token = midwife::ReadSecretFile(token_file);
  if (!token.ok()) {
    std::cerr << "bootserver: state store token: " << token.status().message() << "\n";
    return 1;
  }
  store.token = *token;
  absl::Status status;
  if (chosen == serve) {
    serve_options.boot.boot_window = std::chrono::seconds(boot_window_seconds);
    serve_options.idle_spin = std::chrono::microseconds(idle_spin_us);
    // A boot must be answered within the firmware's timeouts.
    store.deadline = std::chrono::seconds(3);
    store.max_attempts = 2;
    status = midwife::bootserver::RunBootServer(serve_options);
  } else {
    command.name = chosen->get_name();
    auto registry = midwife::statestore::HostRegistryClient::Connect(store);
    status = registry.ok() ? RunAdminCommand(command, **registry) : registry.status();
  }
  if (!status.ok()) {
    std::cerr << "bootserver " << chosen->get_name() << ": " << status.message() << "\n";
    return 1;
  }
  return 0;
}
