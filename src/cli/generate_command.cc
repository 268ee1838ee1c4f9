// `peregrine generate MODEL --prompt TEXT`: text generation with a step model, in process.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "generation/generator.h"
#include "generation/vocabulary.h"

namespace peregrine::cli {
namespace {

struct GenerateFlags {
  std::string model;
  std::string vocab;  // default: vocab.txt beside the model's version folder
  std::string prompt = "Movie is great.";
  int max_tokens = 20;
  generation::SamplingParams sampling;
  int threads = 1;
  engine::Precision precision = engine::Precision::kFloat32;
  int repeat = 1;
  bool ids = false;
};

void Check(const absl::Status& status) {
  if (!status.ok()) throw CommandError{std::string(status.message())};
}

void Generate(const GenerateFlags& flags) {
  namespace fs = std::filesystem;
  const std::string vocab_path =
      flags.vocab.empty() ? (fs::path(flags.model).parent_path().parent_path() / "vocab.txt").string() : flags.vocab;
  auto vocab = generation::Vocabulary::Load(vocab_path, {"<pad>", "<unk>", "<eos>"}, "<unk>");
  Check(vocab.status());
  engine::SessionOptions options;
  options.threads = flags.threads;
  options.precision = flags.precision;
  auto session = engine::Session::Create(flags.model, options);
  Check(session.status());
  auto generator = generation::Generator::Create(session->get(), generation::StepModelSpec{});
  Check(generator.status());

  generation::GenerateRequest request;
  request.max_new_tokens = flags.max_tokens;
  request.sampling = flags.sampling;
  request.stop_ids = {*vocab->IdOf("<eos>")};
  std::vector<double> millis;
  generation::GenerateResult result;
  for (int i = 0; i < std::max(1, flags.repeat); ++i) {
    // Timed end to end as a server would: tokenize, generate, detokenize.
    auto start = std::chrono::steady_clock::now();
    request.prompt = vocab->Encode(flags.prompt);
    if (request.prompt.empty()) throw CommandError{"the prompt has no words"};
    auto generated = (*generator)->Generate(request);
    Check(generated.status());
    result = *generated;
    std::string text = vocab->Decode(result.tokens);
    millis.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (i == 0) std::cout << flags.prompt << " " << text << "\n";
  }
  if (flags.ids) std::cout << "ids: " << absl::StrJoin(result.tokens, " ") << "\n";
  std::sort(millis.begin(), millis.end());
  std::cout << absl::StrFormat("%d tokens; time: min %.3f ms, p50 %.3f ms, p90 %.3f ms over %d runs (%d threads, %s)\n",
                               static_cast<int>(result.tokens.size()), millis.front(), millis[millis.size() / 2],
                               millis[std::min(millis.size() - 1, static_cast<size_t>(millis.size() * 0.9))],
                               static_cast<int>(millis.size()), (*session)->options().threads,
                               engine::PrecisionName((*session)->options().precision));
}

}  // namespace

void AddGenerateCommand(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a step model (token ids + state -> logits + state)");
  cmd->add_option("model", flags->model, "ONNX step model")->required()->check(CLI::ExistingFile);
  cmd->add_option("--vocab", flags->vocab, "Vocabulary, one token per line (default: ../vocab.txt from the model)");
  cmd->add_option("--prompt,-p", flags->prompt, "Text to continue");
  cmd->add_option("--max-tokens,-n", flags->max_tokens, "Tokens to generate")->check(CLI::Range(1, 100000));
  cmd->add_option("--temperature", flags->sampling.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", flags->sampling.top_k, "Sample from the k most likely tokens (0 = all)")->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--top-p", flags->sampling.top_p, "Nucleus sampling threshold in (0, 1]");
  cmd->add_option("--seed", flags->sampling.seed, "Random seed for sampling");
  cmd->add_option("--threads,-t", flags->threads, "Intra-op threads (0 = all cores)")->check(CLI::Range(0, 1024));
  AddPrecisionOption(cmd, &flags->precision, "fp32, or bf16 where the CPU has native bfloat16 (see docs/precision.md)");
  cmd->add_option("--repeat,-r", flags->repeat, "Timed generations")->check(CLI::Range(1, 1000000));
  cmd->add_flag("--ids", flags->ids, "Also print the generated token ids");
  cmd->callback([flags] { Generate(*flags); });
}

}  // namespace peregrine::cli
