// Sub-commands of the `peregrine` program. Each Add*Command registers its flags and a callback that
// runs it; a failing command prints "error: <message>" on stderr and exits non-zero.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/precision.h"

namespace peregrine::cli {

void AddRunCommand(CLI::App& app);
void AddInspectCommand(CLI::App& app);
void AddGenerateCommand(CLI::App& app);
void AddServeCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);

// Parses repeated `--dim SYMBOL=SIZE` flags; throws CommandError for a malformed one.
std::map<std::string, int64_t> ParseDimFlags(const std::vector<std::string>& specs);

// Adds `--precision NAME` (fp32 by default), stored in `*precision`; a name engine::ParsePrecision
// does not know is a usage error with its message.
CLI::Option* AddPrecisionOption(CLI::App* cmd, engine::Precision* precision, const std::string& description);

// Thrown by command callbacks to exit with a message; main() prints it.
struct CommandError {
  std::string message;
  int exit_code = 1;
};

}  // namespace peregrine::cli
