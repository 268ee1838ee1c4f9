// `peregrine inspect MODEL`: what a model takes, returns and contains, and what Peregrine makes of it.
// The numbers come from engine::SummarizeModel (engine/model_summary.h); this file only prints them.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "engine/model_summary.h"

namespace peregrine::cli {
namespace {

struct InspectFlags {
  std::string model;
  std::vector<std::string> dims;  // SYMBOL=SIZE
  int threads = 1;
  engine::Precision precision = engine::Precision::kFloat32;
  bool json = false;
};

// 1234567 -> "1.23 M"; small counts stay exact.
std::string HumanCount(double v) {
  static const char* const kUnits[] = {"", " K", " M", " G", " T", " P"};
  int unit = 0;
  while (v >= 1000 && unit < 5) {
    v /= 1000;
    ++unit;
  }
  return unit == 0 ? absl::StrFormat("%.0f", v) : absl::StrFormat("%.2f%s", v, kUnits[unit]);
}

std::string HumanBytes(double v) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrFormat("%.0f B", v) : absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

std::string OpCounts(const std::map<std::string, int>& counts) {
  std::vector<std::string> parts;
  for (const auto& [op, n] : counts) parts.push_back(n == 1 ? op : absl::StrCat(op, " x", n));
  return parts.empty() ? "(none)" : absl::StrJoin(parts, ", ");
}

void PrintTensors(const char* title, const std::vector<engine::TensorSummary>& tensors) {
  std::cout << title << ":\n";
  for (const auto& t : tensors) {
    std::cout << absl::StrFormat("  %-24s %-8s %s\n", t.name, DataTypeName(t.dtype), engine::DimsToString(t.shape));
  }
}

void PrintFlops(const engine::FlopsEstimate& flops) {
  std::vector<std::string> parts;
  for (const auto& [op, v] : flops.by_op) parts.push_back(absl::StrCat(op, " ", HumanCount(v)));
  std::cout << "FLOPs:       " << HumanCount(flops.total) << " per inference";
  if (!parts.empty()) std::cout << " (" << absl::StrJoin(parts, ", ") << ")";
  if (flops.nodes_unknown > 0) std::cout << "; " << flops.nodes_unknown << " node(s) with unknown shapes not counted";
  std::cout << "\n";
}

void PrintText(const engine::ModelSummary& s) {
  std::cout << "model:       " << (s.name.empty() ? "(unnamed)" : s.name) << " (opset " << s.opset << ")\n";
  PrintTensors("inputs", s.inputs);
  PrintTensors("outputs", s.outputs);
  if (!s.dims_used.empty()) {
    std::vector<std::string> dims;
    for (const auto& [symbol, size] : s.dims_used) dims.push_back(absl::StrCat(symbol, "=", size));
    std::cout << "dims:        " << absl::StrJoin(dims, ", ") << "\n";
  }
  std::cout << "ops in file: " << s.nodes_in_file << " nodes: " << OpCounts(s.ops_in_file) << "\n";
  std::cout << "optimised:   " << s.nodes_optimized << " nodes: " << OpCounts(s.ops_optimized) << "\n";
  const auto& p = s.optimize.passes;
  std::cout << absl::StrFormat("             %d constants folded, %d BatchNorms folded, %d Adds fused, "
                               "%d activations fused, %d Identity/Dropout removed\n",
                               s.optimize.constants_folded, p.batchnorms_folded, p.adds_fused, p.activations_fused,
                               p.identities_removed);
  if (!s.optimize_error.empty()) std::cout << "             optimisation failed: " << s.optimize_error << "\n";
  std::cout << "parameters:  " << s.parameters;
  if (s.parameters >= 1000) std::cout << " (" << HumanCount(static_cast<double>(s.parameters)) << ")";
  std::cout << ", " << HumanBytes(static_cast<double>(s.parameter_bytes)) << " in " << s.initializers << " initializers\n";
  PrintFlops(s.flops);
  if (s.compiled) {
    std::cout << "plan:        " << s.plan.steps << " steps"
              << (s.plan.bf16_steps > 0 ? absl::StrCat(" (", s.plan.bf16_steps, " in bf16)") : "") << ", "
              << s.plan.reorders << " reorders, arena "
              << HumanBytes(static_cast<double>(s.plan.arena_bytes)) << " (" << s.plan.arena_bytes << " bytes), scratch "
              << HumanBytes(static_cast<double>(s.plan.scratch_bytes)) << ", weights in oneDNN layouts "
              << HumanBytes(static_cast<double>(s.constant_bytes)) << "\n";
  } else {
    std::cout << "plan:        not compiled: " << s.compile_error << "\n";
  }
  for (const auto& op : s.unsupported) std::cout << "unsupported: " << op.op_type << " '" << op.node_name << "'\n";
}

void Inspect(const InspectFlags& flags) {
  engine::ModelSummaryOptions options;
  options.dims = ParseDimFlags(flags.dims);
  options.threads = flags.threads;
  options.precision = flags.precision;
  auto summary = engine::SummarizeModelFile(flags.model, options);
  if (!summary.ok()) throw CommandError{std::string(summary.status().message())};
  for (const auto& [symbol, size] : options.dims) {
    if (summary->dims_used.count(symbol)) continue;
    std::vector<std::string> known;
    for (const auto& [name, unused] : summary->dims_used) known.push_back(name);
    throw CommandError{absl::StrCat("--dim ", symbol, ": the model's inputs have no symbolic dimension '", symbol,
                                    "' (they have: ", known.empty() ? "none" : absl::StrJoin(known, ", "), ")")};
  }
  if (flags.json) {
    std::cout << engine::ModelSummaryToJson(*summary) << "\n";
  } else {
    PrintText(*summary);
  }
}

}  // namespace

void AddInspectCommand(CLI::App& app) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a model: inputs, outputs, ops, parameters, FLOPs, arena size");
  cmd->add_option("model", flags->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--dim", flags->dims, "Size of a symbolic input dimension, as SYMBOL=SIZE (default 1 for each)");
  cmd->add_option("--threads,-t", flags->threads, "Intra-op threads of the compiled plan (0 = all cores)")->check(CLI::Range(0, 1024));
  AddPrecisionOption(cmd, &flags->precision, "Precision of the compiled plan: fp32, or bf16 (see docs/precision.md)");
  cmd->add_flag("--json", flags->json, "Print one JSON object instead of text");
  cmd->callback([flags] { Inspect(*flags); });
}

}  // namespace peregrine::cli
