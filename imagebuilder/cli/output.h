#ifndef MIDWIFE_IMAGEBUILDER_CLI_OUTPUT_H_
#define MIDWIFE_IMAGEBUILDER_CLI_OUTPUT_H_

// How the imagebuilder CLI prints results: a table or text for people, and
// with --json a document for scripts (field names are part of the CLI's
// contract; digests always in full "sha256:<hex>" form). Pure: values in,
// text out.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "imagebuilder/image_diff.h"
#include "imagebuilder/image_import.h"
#include "imagebuilder/image_manifest.h"
#include "imagebuilder/image_repository.h"
#include "imagebuilder/repository_maintenance.h"

namespace midwife::imagebuilder::cli {

// "512 B", "1.5 KiB", "412.3 MiB".
std::string HumanBytes(uint64_t bytes);

// A row of `list`: the image, or why it could not be read.
struct ListedImage {
  IndexEntry entry;
  std::optional<ImageManifest> image;
  std::string error;
};

nlohmann::json ImageJson(const ImageManifest& image, const BlobDigest& digest);
std::string ImageText(const ImageManifest& image, const BlobDigest& digest);

nlohmann::json WriteResultJson(const WriteResult& result);
// `verb`: "imported" or "composed".
std::string WriteResultText(const WriteResult& result, const std::string& verb);

nlohmann::json ListJson(const std::vector<ListedImage>& images);
std::string ListText(const std::vector<ListedImage>& images);

nlohmann::json DiffJson(const ImageManifest& from, const ImageManifest& to, const ImageDiff& diff);
std::string DiffText(const ImageManifest& from, const ImageManifest& to, const ImageDiff& diff);

nlohmann::json VerifyJson(const VerifyReport& report);
std::string VerifyText(const VerifyReport& report);

nlohmann::json GcJson(const GcReport& report, bool dry_run);
std::string GcText(const GcReport& report, bool dry_run);

}  // namespace midwife::imagebuilder::cli

#endif  // MIDWIFE_IMAGEBUILDER_CLI_OUTPUT_H_
