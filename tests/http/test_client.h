// A deliberately plain HTTP/1.x client over POSIX sockets for the transport tests: it sends exactly the
// bytes a test gives it and parses responses itself (Content-Length, chunked, or until EOF), so the
// tests see what goes over the wire. Every read is bounded by a receive timeout.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace peregrine::http::testing {

struct ParsedResponse {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
  std::vector<std::string> chunks;             // when chunked
  bool chunked = false;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class TestClient {
 public:
  // Connects to 127.0.0.1:port; reads time out after `timeout`.
  explicit TestClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TestClient() { Close(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const { return connected_; }

  bool Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Half-close: the server sees EOF but the client could still read.
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Reads until `n` bytes are buffered; false on EOF, error or timeout.
  bool Fill(size_t n) {
    while (buffer_.size() < n) {
      if (!ReadMore()) return false;
    }
    return true;
  }

  // Reads until `delimiter` is buffered and returns everything up to and including it.
  std::optional<std::string> ReadUntil(const std::string& delimiter) {
    for (;;) {
      size_t pos = buffer_.find(delimiter);
      if (pos != std::string::npos) {
        std::string out = buffer_.substr(0, pos + delimiter.size());
        buffer_.erase(0, pos + delimiter.size());
        return out;
      }
      if (!ReadMore()) return std::nullopt;
    }
  }

  // One response; nullopt when the connection ends (or times out) before a whole one arrived.
  std::optional<ParsedResponse> ReadResponse() {
    auto head = ReadUntil("\r\n\r\n");
    if (!head) return std::nullopt;
    ParsedResponse r;
    size_t line_end = head->find("\r\n");
    std::string status_line = head->substr(0, line_end);
    r.version = status_line.substr(0, status_line.find(' '));
    r.status = std::atoi(status_line.c_str() + r.version.size() + 1);
    size_t pos = line_end + 2;
    while (pos < head->size() - 2) {
      size_t end = head->find("\r\n", pos);
      std::string line = head->substr(pos, end - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      size_t value_start = line.find_first_not_of(' ', colon + 1);
      r.headers[name] = value_start == std::string::npos ? "" : line.substr(value_start);
      pos = end + 2;
    }
    if (r.status / 100 == 1) return r;  // interim response: no body
    std::string te = r.header("transfer-encoding");
    if (te.find("chunked") != std::string::npos) {
      r.chunked = true;
      for (;;) {
        auto size_line = ReadUntil("\r\n");
        if (!size_line) return std::nullopt;
        size_t size = std::stoul(*size_line, nullptr, 16);
        if (!Fill(size + 2)) return std::nullopt;
        if (size == 0) {
          buffer_.erase(0, 2);
          break;
        }
        r.chunks.push_back(buffer_.substr(0, size));
        r.body += r.chunks.back();
        buffer_.erase(0, size + 2);
      }
    } else if (r.headers.count("content-length")) {
      size_t length = std::stoul(r.header("content-length"));
      if (!Fill(length)) return std::nullopt;
      r.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else {
      while (ReadMore()) {
      }
      if (!eof_) return std::nullopt;
      r.body.swap(buffer_);
    }
    return r;
  }

  // True when the server closes the connection (EOF or reset) before the receive timeout, with no
  // further bytes received.
  bool WaitForClose() {
    if (!buffer_.empty()) return false;
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
  }

  const std::string& buffered() const { return buffer_; }

 private:
  bool ReadMore() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = n == 0;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

inline std::string Get(const std::string& target, const std::string& extra_headers = "",
                       const std::string& version = "HTTP/1.1") {
  return "GET " + target + " " + version + "\r\nHost: test\r\n" + extra_headers + "\r\n";
}

inline std::string Post(const std::string& target, const std::string& body, const std::string& extra_headers = "",
                        const std::string& version = "HTTP/1.1") {
  return "POST " + target + " " + version + "\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra_headers + "\r\n" + body;
}

}  // namespace peregrine::http::testing
