// Word-level vocabulary and the basic English tokenizer of the text-generation examples.
//
// Tokenizing (the rule examples/textgen-lstm/tokenizer.py documents, byte for byte):
//   1. ASCII A-Z are lowercased; every other byte is kept.
//   2. Each of  . , ! ? ; : ' " ( ) -  becomes a token of its own.
//   3. Runs of ASCII whitespace separate tokens.
//   4. A token missing from the vocabulary, or spelling a reserved token, maps to the unknown id, so
//      text can never inject a control token.
// Detokenizing joins tokens with one space, except none before  . , ! ? ; : ) ' -  and none after
// ( ' - .
//
// Immutable after Load(); safe to share between threads.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace peregrine::generation {

class Vocabulary {
 public:
  // Reads one token per line (line index = id). `reserved` tokens must be the first lines, in order
  // (e.g. <pad>, <unk>, <eos>); `unknown` names the one unknown words map to.
  static absl::StatusOr<Vocabulary> Load(const std::string& path, const std::vector<std::string>& reserved,
                                         const std::string& unknown);
  static absl::StatusOr<Vocabulary> FromTokens(std::vector<std::string> tokens, const std::vector<std::string>& reserved,
                                               const std::string& unknown);

  size_t size() const { return tokens_.size(); }
  // Id of a reserved or ordinary token; NotFound when absent.
  absl::StatusOr<int64_t> IdOf(absl::string_view token) const;
  const std::string& Token(int64_t id) const { return tokens_[static_cast<size_t>(id)]; }
  int64_t unknown_id() const { return unknown_id_; }

  std::vector<int64_t> Encode(absl::string_view text) const;
  // Like Encode, but words that are not ordinary vocabulary tokens become -1 (for matching text against
  // generated tokens: such a word can never be generated).
  std::vector<int64_t> EncodeKnown(absl::string_view text) const;
  // Ids must be in [0, size()).
  std::string Decode(const std::vector<int64_t>& ids) const;
  // The text token `id` adds after token `previous` (-1 at the start): a space when the rule above
  // wants one, then the token. Decode(ids) is the concatenation of the pieces, so streamed pieces add
  // up to the whole text.
  std::string Piece(int64_t previous, int64_t id) const;
  // Piece(previous, id) appended to `out`, without a temporary string.
  void AppendPiece(std::string& out, int64_t previous, int64_t id) const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ordinary_;  // reserved spellings are deliberately absent
  std::unordered_map<std::string, int64_t> reserved_;
  int64_t unknown_id_ = 0;
};

// Rules 1-3 above: text to token strings.
std::vector<std::string> Tokenize(absl::string_view text);

}  // namespace peregrine::generation
