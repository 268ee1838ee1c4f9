// ResponseParser: an incremental HTTP/1.1 response parser that keeps only what a load generator needs -
// the status code, whether the connection stays open, and how many body bytes went by.
//
// Feed() takes the bytes as they arrive, in pieces of any size. The header (status line and fields) is
// copied into a fixed buffer of kMaxHeaderBytes; the body is skipped, never stored. Bodies are delimited
// by Content-Length, by chunked transfer coding, or (neither given) by the end of the connection - call
// FeedEof() then. 1xx interim responses are skipped. Nothing is allocated: a parser lives in its
// connection and is Reset() for each response.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace peregrine::loadgen {

class ResponseParser {
 public:
  static constexpr size_t kMaxHeaderBytes = 16 * 1024;
  enum class Result { kNeedMore, kDone, kError };

  void Reset();

  // Consumes up to `size` bytes, setting *consumed; stops at the end of the response (kDone). Bytes after
  // it (a pipelined response, which we never ask for) are left unconsumed.
  Result Feed(const char* data, size_t size, size_t* consumed);
  // The connection was closed: kDone when the body runs to the end of the connection, else kError.
  Result FeedEof();

  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  uint64_t body_bytes() const { return body_bytes_; }
  const char* error() const { return error_; }

 private:
  enum class State { kHeader, kBody, kUntilEof, kChunkSize, kChunkData, kChunkDataEnd, kTrailer, kDone, kError };

  Result Fail(const char* why);
  bool ParseHeader();  // on header_[0, header_size_)
  Result AfterHeader();
  Result FeedChunkSize(const char* data, size_t size, size_t* used);
  Result FeedLine(const char* data, size_t size, size_t* used, bool* line_done);

  State state_ = State::kHeader;
  std::array<char, kMaxHeaderBytes> header_;
  size_t header_size_ = 0;
  int status_ = 0;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the body or the current chunk
  uint64_t body_bytes_ = 0;
  uint64_t chunk_size_ = 0;
  bool chunk_size_digits_ = false;
  bool in_chunk_ext_ = false;
  size_t line_length_ = 0;  // of the current trailer line
  const char* error_ = "";
};

}  // namespace peregrine::loadgen
