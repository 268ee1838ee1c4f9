// Model repository scanning (Triton's layout), version policies and change fingerprints.
#include "serving/repository.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace peregrine::serving {
namespace {

namespace fs = std::filesystem;

bool Hidden(const std::string& name) { return name.empty() || name[0] == '.'; }

// A version folder name is a positive decimal integer written canonically ("1", "12", not "01" or "+1"),
// so that two folders can never mean the same version.
std::optional<int64_t> ParseVersion(const std::string& name) {
  if (name.empty() || name[0] == '0') return std::nullopt;
  int64_t value = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (error != std::errc() || end != name.data() + name.size() || value <= 0) return std::nullopt;
  return value;
}

bool IsDirectory(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path.string()));
  return text.str();
}

// FNV-1a: a stable, dependency-free 64-bit hash; collisions only cost a missed reload.
uint64_t Fnv1a(const std::string& data) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListModelNames(const fs::path& repository) {
  if (!IsDirectory(repository)) {
    return absl::NotFoundError(absl::StrCat("model repository '", repository.string(), "' is not a folder"));
  }
  std::error_code error;
  std::vector<std::string> names;
  for (fs::directory_iterator it(repository, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!Hidden(name) && IsDirectory(it->path())) names.push_back(name);
  }
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot list model repository '", repository.string(), "': ", error.message()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<ModelDirectory> ReadModelDirectory(const fs::path& repository, const std::string& name) {
  if (name.empty() || Hidden(name) || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
      name.find("..") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not a model name"));
  }
  ModelDirectory model;
  model.name = name;
  model.path = repository / name;
  if (!IsDirectory(model.path)) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not in the repository (no folder ", model.path.string(), ")"));
  }
  std::error_code error;
  for (fs::directory_iterator it(model.path, error), end; !error && it != end; it.increment(error)) {
    const std::optional<int64_t> version = ParseVersion(it->path().filename().string());
    if (version && IsDirectory(it->path())) model.versions.push_back(*version);
  }
  if (error) return absl::NotFoundError(absl::StrCat("cannot list ", model.path.string(), ": ", error.message()));
  std::sort(model.versions.begin(), model.versions.end());
  const fs::path config = model.path / "config.pbtxt";
  if (fs::is_regular_file(config, error)) {
    ASSIGN_OR_RETURN(model.config_text, ReadFile(config));
  }
  return model;
}

std::vector<int64_t> SelectVersions(const config::ModelVersionPolicy& policy, const std::vector<int64_t>& available) {
  std::vector<int64_t> sorted = available;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  switch (policy.policy_choice_case()) {
    case config::ModelVersionPolicy::kAll:
      return sorted;
    case config::ModelVersionPolicy::kSpecific: {
      std::vector<int64_t> chosen;
      for (int64_t v : sorted) {
        const auto& wanted = policy.specific().versions();
        if (std::find(wanted.begin(), wanted.end(), v) != wanted.end()) chosen.push_back(v);
      }
      return chosen;
    }
    case config::ModelVersionPolicy::kLatest:
    case config::ModelVersionPolicy::POLICY_CHOICE_NOT_SET:
      break;
  }
  // Latest n (an unset policy or n = 0 count as 1, as CompleteModelConfig fills them in).
  const size_t n = policy.has_latest() && policy.latest().num_versions() > 0 ? policy.latest().num_versions() : 1;
  if (sorted.size() > n) sorted.erase(sorted.begin(), sorted.end() - static_cast<std::ptrdiff_t>(n));
  return sorted;
}

std::string ModelFingerprint(const fs::path& model_dir) {
  // One line per entry - relative path, type, size, inode, modification time in ns - sorted, hashed.
  // The inode catches a file replaced by rename with the same size and time stamp.
  std::vector<std::string> lines;
  std::error_code error;
  const auto options = fs::directory_options::skip_permission_denied;
  for (fs::recursive_directory_iterator it(model_dir, options, error), end; !error && it != end; it.increment(error)) {
    struct stat info {};
    if (::stat(it->path().c_str(), &info) != 0) continue;  // vanished or a dangling link: absent
    lines.push_back(absl::StrCat(it->path().lexically_relative(model_dir).string(), "|", info.st_mode, "|",
                                 info.st_size, "|", info.st_ino, "|", info.st_mtim.tv_sec, ".", info.st_mtim.tv_nsec));
  }
  if (lines.empty() && !IsDirectory(model_dir)) return "";
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const std::string& line : lines) absl::StrAppend(&all, line, "\n");
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(Fnv1a(all)));
  return hex;
}

}  // namespace peregrine::serving
