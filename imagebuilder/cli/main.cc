// imagebuilder: import ESXi installers (and Linux stand-in images) into the
// content-addressed image repository, compose variants, and keep it healthy.
#include <CLI/CLI.hpp>
#include <iostream>

#include "imagebuilder/cli/commands.h"

namespace {

using midwife::imagebuilder::cli::CliOptions;

// One line, whatever the library put in the message.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"midwife imagebuilder: ESXi and Linux boot images in an OCI image layout"};
  app.require_subcommand(1);
  app.fallthrough();  // --repo and --json may follow the subcommand
  CliOptions o;
  app.add_option("--repo", o.repo, "image repository folder")->capture_default_str();
  app.add_flag("--json", o.json, "print JSON for scripts");

  CLI::App* import =
      app.add_subcommand("import", "import an ESXi installer ISO, a folder or a tarball");
  import
      ->add_option("source", o.source,
                   "ISO, .tar/.tgz or folder holding boot.cfg (or linux.cfg) and its modules")
      ->required();
  import->add_option("--name", o.name, "image name, e.g. esxi")->required();
  import->add_option("--version", o.version, "image version, e.g. 8.0u2")->required();
  import->add_option("--kind", o.kind, "esxi or linux")
      ->capture_default_str()
      ->check(CLI::IsMember({"esxi", "linux"}));

  CLI::App* compose =
      app.add_subcommand("compose", "make a new image from a stored one plus edits");
  std::string kernelopt, append_kernelopt, title;
  compose->add_option("--from", o.from, "the image to start from, NAME@VERSION")->required();
  compose->add_option("--name", o.name, "the new image's name")->required();
  compose->add_option("--version", o.version, "the new image's version")->required();
  compose->add_option(
      "--add", o.add,
      "FILE[@POSITION]: add a module; POSITION is end, a 0-based index or after:NAME (repeatable)");
  compose->add_option("--remove", o.remove, "NAME: drop a module (repeatable)");
  compose->add_option("--replace", o.replace, "NAME=FILE: new content for a module (repeatable)");
  CLI::Option* kernelopt_flag =
      compose->add_option("--kernelopt", kernelopt, "set the kernel command line");
  CLI::Option* append_flag = compose->add_option("--append-kernelopt", append_kernelopt,
                                                 "append to the kernel command line");
  CLI::Option* title_flag = compose->add_option("--title", title, "set the boot title");

  app.add_subcommand("list", "list the images");
  CLI::App* show = app.add_subcommand("show", "show an image's settings and modules");
  show->add_option("image", o.images, "NAME@VERSION")->required()->expected(1);
  CLI::App* diff = app.add_subcommand("diff", "compare two images");
  diff->add_option("images", o.images, "FROM@VERSION TO@VERSION")->required()->expected(2);
  app.add_subcommand("verify", "re-hash every blob; exit non-zero if any is corrupt or missing");
  CLI::App* gc =
      app.add_subcommand("gc", "remove blobs no image uses and leftovers of interrupted writes");
  gc->add_flag("--dry-run", o.dry_run, "only print what would be removed");
  CLI::App* remove = app.add_subcommand("remove", "remove an image's name (gc reclaims its blobs)");
  remove->add_option("image", o.images, "NAME@VERSION")->required()->expected(1);
  remove->add_option("--statestore", o.statestore, "state store holding host assignments")->capture_default_str();
  remove->add_option("--statestore-token-file", o.statestore_token_file, "its admin token")->capture_default_str();
  remove->add_flag("--force", o.force, "remove without checking that no host uses the image");

  CLI::App* state = app.add_subcommand("state", "host state tarballs: pack, unpack, list, diff");
  state->add_option("action", o.state_action, "pack DIR | unpack ARCHIVE | list ARCHIVE | diff A B")
      ->required()
      ->check(CLI::IsMember({"pack", "unpack", "list", "diff"}));
  state->add_option("paths", o.paths, "folder or archives")->required();
  state->add_option("--out", o.out, "pack: archive to write; unpack: folder to write");
  state->add_option("--format", o.state_format, "pack: esxi (state.tgz > local.tgz), tarball or cpio")
      ->capture_default_str()
      ->check(CLI::IsMember({"esxi", "tarball", "cpio"}));
  CLI::App* render = app.add_subcommand("render", "a host's boot.cfg and iPXE script");
  render->add_option("--image", o.images, "NAME@VERSION")->required()->expected(1);
  render->add_option("--mac", o.mac, "the host's MAC")->required();
  render->add_option("--server", o.server, "the boot server's URL, http://host:port")->required();
  render->add_option("--token", o.token, "the host's token");
  render->add_option("--firmware", o.firmware, "bios or uefi")->capture_default_str()->check(CLI::IsMember({"bios", "uefi"}));

  CLI11_PARSE(app, argc, argv);
  o.command = app.get_subcommands().front()->get_name();
  if (kernelopt_flag->count() > 0) o.kernelopt = kernelopt;
  if (append_flag->count() > 0) o.append_kernelopt = append_kernelopt;
  if (title_flag->count() > 0) o.title = title;

  const absl::Status status = midwife::imagebuilder::cli::RunCommand(o, std::cout);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "imagebuilder " << o.command << ": " << OneLine(std::string(status.message()))
              << "\n";
    return 1;
  }
  return 0;
}
