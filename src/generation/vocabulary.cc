#include "generation/vocabulary.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace peregrine::generation {
namespace {

constexpr absl::string_view kPunctuation = ".,!?;:'\"()-";
constexpr absl::string_view kNoSpaceBefore = ".,!?;:)'-";
constexpr absl::string_view kNoSpaceAfter = "('-";
constexpr absl::string_view kWhitespace = " \t\n\v\f\r";

bool IsOneOf(const std::string& token, absl::string_view set) {
  return token.size() == 1 && set.find(token[0]) != absl::string_view::npos;
}

}  // namespace

std::vector<std::string> Tokenize(absl::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) tokens.push_back(std::move(current));
    current.clear();
  };
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (kPunctuation.find(c) != absl::string_view::npos) {
      flush();
      tokens.emplace_back(1, c);
    } else if (kWhitespace.find(c) != absl::string_view::npos) {
      flush();
    } else {
      current += c;
    }
  }
  flush();
  return tokens;
}

absl::StatusOr<Vocabulary> Vocabulary::FromTokens(std::vector<std::string> tokens, const std::vector<std::string>& reserved,
                                                  const std::string& unknown) {
  Vocabulary v;
  for (size_t i = 0; i < reserved.size(); ++i) {
    if (i >= tokens.size() || tokens[i] != reserved[i]) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary line ", i + 1, " must be the reserved token '", reserved[i], "'"));
    }
    v.reserved_[reserved[i]] = static_cast<int64_t>(i);
  }
  for (size_t i = reserved.size(); i < tokens.size(); ++i) {
    if (tokens[i].empty()) return absl::InvalidArgumentError(absl::StrCat("vocabulary line ", i + 1, " is empty"));
    if (!v.ordinary_.emplace(tokens[i], static_cast<int64_t>(i)).second) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary token '", tokens[i], "' appears twice"));
    }
  }
  auto unk = v.reserved_.find(unknown);
  if (unk == v.reserved_.end()) return absl::InvalidArgumentError(absl::StrCat("unknown token '", unknown, "' is not reserved"));
  v.unknown_id_ = unk->second;
  v.tokens_ = std::move(tokens);
  return v;
}

absl::StatusOr<Vocabulary> Vocabulary::Load(const std::string& path, const std::vector<std::string>& reserved,
                                            const std::string& unknown) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open vocabulary ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::vector<std::string> tokens = absl::StrSplit(buffer.str(), '\n');
  if (!tokens.empty() && tokens.back().empty()) tokens.pop_back();  // the last line's newline
  auto vocab = FromTokens(std::move(tokens), reserved, unknown);
  if (!vocab.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", vocab.status().message()));
  return vocab;
}

absl::StatusOr<int64_t> Vocabulary::IdOf(absl::string_view token) const {
  const std::string key(token);
  if (auto it = reserved_.find(key); it != reserved_.end()) return it->second;
  if (auto it = ordinary_.find(key); it != ordinary_.end()) return it->second;
  return absl::NotFoundError(absl::StrCat("token '", key, "' is not in the vocabulary"));
}

std::vector<int64_t> Vocabulary::Encode(absl::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::string& token : Tokenize(text)) {
    auto it = ordinary_.find(token);
    ids.push_back(it == ordinary_.end() ? unknown_id_ : it->second);
  }
  return ids;
}

std::vector<int64_t> Vocabulary::EncodeKnown(absl::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::string& token : Tokenize(text)) {
    auto it = ordinary_.find(token);
    ids.push_back(it == ordinary_.end() ? -1 : it->second);
  }
  return ids;
}

std::string Vocabulary::Decode(const std::vector<int64_t>& ids) const {
  std::string out;
  int64_t previous = -1;
  for (int64_t id : ids) {
    AppendPiece(out, previous, id);
    previous = id;
  }
  return out;
}

std::string Vocabulary::Piece(int64_t previous, int64_t id) const {
  std::string piece;
  AppendPiece(piece, previous, id);
  return piece;
}

void Vocabulary::AppendPiece(std::string& out, int64_t previous, int64_t id) const {
  const std::string& token = tokens_[static_cast<size_t>(id)];
  const bool space = previous >= 0 && !IsOneOf(token, kNoSpaceBefore) &&
                     !IsOneOf(tokens_[static_cast<size_t>(previous)], kNoSpaceAfter);
  if (space) out += ' ';
  out += token;
}

}  // namespace peregrine::generation
