#include "tests/statestore/at_rest_files.h"

#include <filesystem>

#include "core/file_io.h"
#include "tests/support/tar_builder.h"

namespace midwife::statestore::testing {

std::string ArchiveShowing(const std::string& marker) {
  std::string shadow;
  for (int i = 0; i < 200; ++i) shadow += marker + "\n";
  midwife::testing::TarBuilder b(midwife::testing::TarBuilder::Compression::kGzipStored);
  b.File("etc/shadow", shadow);
  return b.Finish();
}

std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    auto contents = ReadFile(entry.path().string());
    if (contents.ok() && contents->find(needle) != std::string::npos) {
      out.push_back(entry.path().string());
    }
  }
  return out;
}

}  // namespace midwife::statestore::testing
