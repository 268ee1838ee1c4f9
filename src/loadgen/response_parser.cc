#include "loadgen/response_parser.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace peregrine::loadgen {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Whether a comma-separated header value holds `token` (case-insensitive), e.g. Connection: "keep-alive, Upgrade".
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void ResponseParser::Reset() {
  state_ = State::kHeader;
  header_size_ = 0;
  status_ = 0;
  keep_alive_ = true;
  chunked_ = false;
  has_length_ = false;
  content_length_ = remaining_ = body_bytes_ = chunk_size_ = 0;
  chunk_size_digits_ = in_chunk_ext_ = false;
  line_length_ = 0;
  error_ = "";
}

ResponseParser::Result ResponseParser::Fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return Result::kError;
}

bool ResponseParser::ParseHeader() {
  std::string_view text(header_.data(), header_size_);
  const size_t eol = text.find("\r\n");
  std::string_view line = text.substr(0, eol);
  // "HTTP/1.x SSS reason"
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return false;
  const bool http10 = line[7] == '0';
  keep_alive_ = !http10;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
    status = status * 10 + (line[i] - '0');
  }
  status_ = status;
  text.remove_prefix(eol + 2);
  while (!text.empty()) {
    const size_t end = text.find("\r\n");
    line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 2);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (EqualsIgnoreCase(name, "content-length")) {
      uint64_t length = 0;
      if (value.empty() || value.size() > 18) return false;
      for (char c : value) {
        if (c < '0' || c > '9') return false;
        length = length * 10 + static_cast<uint64_t>(c - '0');
      }
      has_length_ = true;
      content_length_ = length;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      chunked_ = HasToken(value, "chunked");
    } else if (EqualsIgnoreCase(name, "connection")) {
      if (HasToken(value, "close")) keep_alive_ = false;
      if (HasToken(value, "keep-alive")) keep_alive_ = true;
    }
  }
  return true;
}

ResponseParser::Result ResponseParser::AfterHeader() {
  if (!ParseHeader()) return Fail("malformed response header");
  if (status_ >= 100 && status_ < 200) {  // interim response: the real one follows
    header_size_ = 0;
    has_length_ = chunked_ = false;
    return Result::kNeedMore;
  }
  if (status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    remaining_ = content_length_;
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
  } else {
    keep_alive_ = false;  // the body ends with the connection
    state_ = State::kUntilEof;
  }
  return state_ == State::kDone ? Result::kDone : Result::kNeedMore;
}

// One CRLF-terminated line, byte by byte (chunk-size lines and trailers are short). A bare LF is accepted.
ResponseParser::Result ResponseParser::FeedLine(const char* data, size_t size, size_t* used, bool* line_done) {
  *line_done = false;
  while (*used < size) {
    const char c = data[(*used)++];
    if (c == '\n') {
      *line_done = true;
      return Result::kNeedMore;
    }
    if (c != '\r' && ++line_length_ > kMaxHeaderBytes) return Fail("chunk line too long");
  }
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::FeedChunkSize(const char* data, size_t size, size_t* used) {
  while (*used < size) {
    const char c = data[(*used)++];
    if (c == '\n') {
      if (!chunk_size_digits_) return Fail("missing chunk size");
      chunk_size_digits_ = in_chunk_ext_ = false;
      remaining_ = chunk_size_;
      chunk_size_ = 0;
      state_ = remaining_ == 0 ? State::kTrailer : State::kChunkData;
      line_length_ = 0;
      return Result::kNeedMore;
    }
    if (in_chunk_ext_ || c == '\r') continue;
    if (c == ';') {
      in_chunk_ext_ = true;
      continue;
    }
    const int digit = HexDigit(c);
    if (digit < 0 || chunk_size_ > (uint64_t{1} << 56)) return Fail("bad chunk size");
    chunk_size_ = chunk_size_ * 16 + static_cast<uint64_t>(digit);
    chunk_size_digits_ = true;
  }
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::Feed(const char* data, size_t size, size_t* consumed) {
  size_t used = 0;
  *consumed = 0;
  while (used < size) {
    switch (state_) {
      case State::kHeader: {
        const size_t room = kMaxHeaderBytes - header_size_;
        const size_t take = std::min(room, size - used);
        const size_t search_from = header_size_ >= 3 ? header_size_ - 3 : 0;
        std::memcpy(header_.data() + header_size_, data + used, take);
        const std::string_view text(header_.data(), header_size_ + take);
        const size_t end = text.find("\r\n\r\n", search_from);
        if (end == std::string_view::npos) {
          if (take == room) return Fail("response header too large");
          header_size_ += take;
          used += take;
          break;
        }
        used += end + 4 - header_size_;
        header_size_ = end + 4;
        const Result r = AfterHeader();
        if (r != Result::kNeedMore) {
          *consumed = used;
          return r;
        }
        break;
      }
      case State::kBody: {
        const uint64_t take = std::min<uint64_t>(remaining_, size - used);
        used += take;
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) {
          state_ = State::kDone;
          *consumed = used;
          return Result::kDone;
        }
        break;
      }
      case State::kUntilEof:
        body_bytes_ += size - used;
        used = size;
        break;
      case State::kChunkSize:
        if (FeedChunkSize(data, size, &used) == Result::kError) return Result::kError;
        break;
      case State::kChunkData: {
        const uint64_t take = std::min<uint64_t>(remaining_, size - used);
        used += take;
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        bool line_done = false;
        if (FeedLine(data, size, &used, &line_done) == Result::kError) return Result::kError;
        if (line_done) {
          if (line_length_ != 0) return Fail("chunk data longer than its size");
          state_ = State::kChunkSize;
        }
        break;
      }
      case State::kTrailer: {
        bool line_done = false;
        if (FeedLine(data, size, &used, &line_done) == Result::kError) return Result::kError;
        if (line_done) {
          if (line_length_ == 0) {
            state_ = State::kDone;
            *consumed = used;
            return Result::kDone;
          }
          line_length_ = 0;  // a trailer field; skip it
        }
        break;
      }
      case State::kDone:
        *consumed = used;
        return Result::kDone;
      case State::kError:
        return Result::kError;
    }
  }
  *consumed = used;
  return state_ == State::kDone ? Result::kDone : Result::kNeedMore;
}

ResponseParser::Result ResponseParser::FeedEof() {
  if (state_ == State::kUntilEof || state_ == State::kDone) {
    state_ = State::kDone;
    return Result::kDone;
  }
  return Fail("connection closed before the response was complete");
}

}  // namespace peregrine::loadgen
