// Sub-commands of the `peregrine` program. Each Add*Command registers its flags and a callback that
// runs it; a failing command prints "error: <message>" on stderr and exits non-zero.
#pragma once

#include "CLI/CLI.hpp"

namespace peregrine::cli {

void AddRunCommand(CLI::App& app);
void AddInspectCommand(CLI::App& app);

// Thrown by command callbacks to exit with a message; main() prints it.
struct CommandError {
  std::string message;
  int exit_code = 1;
};

}  // namespace peregrine::cli
