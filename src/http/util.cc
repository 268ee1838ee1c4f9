#include "http/util.h"

#include <cstdio>
#include <ctime>

namespace peregrine::http::internal {

std::string JsonError(std::string_view message) {
  std::string out = "{\"error\": \"";
  out.reserve(out.size() + message.size() + 2);
  for (unsigned char c : message) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"}";
  return out;
}

Response ErrorResponse(boost::beast::http::status status, std::string_view message) {
  Response response{status, 11};
  response.set(boost::beast::http::field::content_type, "application/json");
  response.body() = JsonError(message);
  return response;
}

boost::beast::string_view HttpDate() {
  // Spelled out rather than strftime so the locale cannot change the day and month names.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached_second = -1;
  thread_local char text[40];
  thread_local int length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                           kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = now;
  }
  return boost::beast::string_view(text, static_cast<size_t>(length));
}

}  // namespace peregrine::http::internal
