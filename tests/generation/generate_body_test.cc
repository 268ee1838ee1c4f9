// The generate endpoint's request parsing (kserve/generate_routes.h): shapes, types, unknown names, UTF-8.
#include <gtest/gtest.h>

#include "kserve/generate_routes.h"

namespace peregrine::kserve {
namespace {

void ExpectError(const std::string& body, const std::string& fragment) {
  auto parsed = ParseGenerateBody(body);
  ASSERT_FALSE(parsed.ok()) << body;
  EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()));
  EXPECT_NE(parsed.status().message().find(fragment), std::string::npos)
      << body << " -> " << parsed.status().message() << "\nexpected: " << fragment;
}

TEST(GenerateBodyTest, ParsesEveryParameter) {
  auto body = ParseGenerateBody(R"({"text_input": "Movie is great.", "parameters": {"max_tokens": 7,
      "temperature": 0.5, "top_k": 3, "top_p": 0.9, "seed": 18446744073709551615, "stop": ["a", "b c"]}})");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->text_input, "Movie is great.");
  EXPECT_EQ(body->max_tokens, 7);
  EXPECT_FLOAT_EQ(body->sampling.temperature, 0.5f);
  EXPECT_EQ(body->sampling.top_k, 3);
  EXPECT_FLOAT_EQ(body->sampling.top_p, 0.9f);
  EXPECT_EQ(body->sampling.seed, 18446744073709551615ull);
  EXPECT_EQ(body->stop, (std::vector<std::string>{"a", "b c"}));
  auto minimal = ParseGenerateBody(R"({"text_input": "x", "parameters": {"stop": "end"}})");
  ASSERT_TRUE(minimal.ok());
  EXPECT_FALSE(minimal->max_tokens.has_value());
  EXPECT_EQ(minimal->stop, (std::vector<std::string>{"end"}));
  EXPECT_TRUE(ParseGenerateBody(R"({"text_input": "x"})").ok());
}

TEST(GenerateBodyTest, RejectsWrongShapesAndTypes) {
  ExpectError("", "not valid JSON");
  ExpectError("{\"text_input\": ", "not valid JSON");
  ExpectError("[1]", "must be a JSON object");
  ExpectError("{}", "text_input is required");
  ExpectError(R"({"text_input": 5})", "text_input must be a string");
  ExpectError(R"({"text_input": "x", "prompt": "y"})", "unknown field 'prompt'");
  ExpectError(R"({"text_input": "x", "text_input": "y"})", "given twice");
  ExpectError(R"({"text_input": "x", "parameters": [1]})", "parameters must be a JSON object");
  ExpectError(R"({"text_input": "x", "parameters": {"max_tokens": "20"}})", "parameters.max_tokens must be an integer");
  ExpectError(R"({"text_input": "x", "parameters": {"max_tokens": 20.5}})", "parameters.max_tokens must be an integer");
  ExpectError(R"({"text_input": "x", "parameters": {"temperature": "hot"}})",
              "parameters.temperature must be a number");
  ExpectError(R"({"text_input": "x", "parameters": {"top_k": 1.5}})", "parameters.top_k must be an integer");
  ExpectError(R"({"text_input": "x", "parameters": {"top_p": null}})", "parameters.top_p must be a number");
  ExpectError(R"({"text_input": "x", "parameters": {"top_p": 0}})", "top_p must be in (0, 1]");
  ExpectError(R"({"text_input": "x", "parameters": {"top_p": 1.0000001}})", "top_p must be in (0, 1]");
  ExpectError(R"({"text_input": "x", "parameters": {"seed": -1}})", "parameters.seed must be a non-negative integer");
  ExpectError(R"({"text_input": "x", "parameters": {"stop": [1]}})", "parameters.stop must be a string or a list");
  ExpectError(R"({"text_input": "x", "parameters": {"stop": {}}})", "parameters.stop must be a string or a list");
  ExpectError(R"({"text_input": "x", "parameters": {"stream": true}})", "unknown parameter 'stream'");
  ExpectError("{\"text_input\": \"x\", \"\xff\": 1}", "unknown field (a name that is not valid UTF-8)");
}

TEST(GenerateBodyTest, FindsInvalidUtf8) {
  EXPECT_FALSE(InvalidUtf8At("plain ascii").has_value());
  EXPECT_FALSE(InvalidUtf8At("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac").has_value());
  EXPECT_EQ(InvalidUtf8At("ab\xff"), 2u);
  EXPECT_EQ(InvalidUtf8At("a\xc3"), 1u) << "truncated";
  EXPECT_EQ(InvalidUtf8At("\xc0\xaf"), 0u) << "overlong";
  EXPECT_EQ(InvalidUtf8At("\xed\xa0\x80"), 0u) << "surrogate";
  EXPECT_EQ(InvalidUtf8At("\xf4\x90\x80\x80"), 0u) << "over U+10FFFF";
  EXPECT_EQ(InvalidUtf8At("ok\x80"), 2u) << "lone continuation byte";
}

}  // namespace
}  // namespace peregrine::kserve
