// ResponseParser: status, keep-alive and body framing, fed in pieces of every size.
#include "loadgen/response_parser.h"

#include <string>

#include <gtest/gtest.h>

namespace peregrine::loadgen {
namespace {

using Result = ResponseParser::Result;

// Feeds `wire` in pieces of `piece` bytes; returns the final result and how much was consumed in total.
Result FeedInPieces(ResponseParser& p, const std::string& wire, size_t piece, size_t* total) {
  *total = 0;
  Result r = Result::kNeedMore;
  for (size_t at = 0; at < wire.size() && r == Result::kNeedMore; at += piece) {
    size_t used = 0;
    r = p.Feed(wire.data() + at, std::min(piece, wire.size() - at), &used);
    *total += used;
  }
  return r;
}

TEST(ResponseParserTest, ContentLengthInEveryPieceSize) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": true}";
  for (size_t piece = 1; piece <= wire.size(); ++piece) {
    ResponseParser p;
    size_t total = 0;
    ASSERT_EQ(FeedInPieces(p, wire, piece, &total), Result::kDone) << piece;
    EXPECT_EQ(total, wire.size());
    EXPECT_EQ(p.status(), 200);
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(p.body_bytes(), 11u);
  }
}

TEST(ResponseParserTest, StopsAtTheEndOfTheResponse) {
  const std::string first = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nRetry-After: 1\r\n\r\nab";
  ResponseParser p;
  size_t used = 0;
  const std::string wire = first + "HTTP/1.1 200 OK\r\n";
  EXPECT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kDone);
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(p.status(), 503);
  p.Reset();
  EXPECT_EQ(p.status(), 0);
}

TEST(ResponseParserTest, ConnectionHeaderAndVersion) {
  ResponseParser p;
  size_t used = 0;
  std::string wire = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kDone);
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  wire = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kDone);
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  wire = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kDone);
  EXPECT_TRUE(p.keep_alive());
}

TEST(ResponseParserTest, ChunkedWithExtensionsAndTrailers) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t piece = 1; piece <= wire.size(); ++piece) {
    ResponseParser p;
    size_t total = 0;
    ASSERT_EQ(FeedInPieces(p, wire, piece, &total), Result::kDone) << piece;
    EXPECT_EQ(total, wire.size());
    EXPECT_EQ(p.body_bytes(), 31u);
    EXPECT_TRUE(p.keep_alive());
  }
}

TEST(ResponseParserTest, InterimResponsesAreSkipped) {
  const std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx";
  ResponseParser p;
  size_t total = 0;
  ASSERT_EQ(FeedInPieces(p, wire, 3, &total), Result::kDone);
  EXPECT_EQ(p.status(), 201);
}

TEST(ResponseParserTest, BodyUntilEofAndNoBodyStatuses) {
  ResponseParser p;
  size_t used = 0;
  std::string wire = "HTTP/1.1 200 OK\r\n\r\nstreamed body";
  EXPECT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kNeedMore);
  EXPECT_EQ(p.FeedEof(), Result::kDone);
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(p.body_bytes(), 13u);
  p.Reset();
  wire = "HTTP/1.1 204 No Content\r\n\r\n";
  EXPECT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kDone);
  p.Reset();
  wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
  EXPECT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kNeedMore);
  EXPECT_EQ(p.FeedEof(), Result::kError);  // cut short
}

TEST(ResponseParserTest, Malformed) {
  for (const std::string wire : {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "garbage\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    ResponseParser p;
    size_t used = 0;
    EXPECT_EQ(p.Feed(wire.data(), wire.size(), &used), Result::kError) << wire;
  }
  ResponseParser p;
  size_t used = 0;
  const std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(ResponseParser::kMaxHeaderBytes, 'a');
  EXPECT_EQ(p.Feed(huge.data(), huge.size(), &used), Result::kError);
}

}  // namespace
}  // namespace peregrine::loadgen
