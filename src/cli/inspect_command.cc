// `peregrine inspect MODEL`: what a model takes, returns and contains, and what Peregrine makes of it.
#include <iostream>

#include "cli/commands.h"

namespace peregrine::cli {

void AddInspectCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a model: inputs, outputs, ops, parameters, FLOPs, arena size");
  auto model = std::make_shared<std::string>();
  cmd->add_option("model", *model, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->callback([model] { throw CommandError{"inspect is not implemented yet"}; });
}

}  // namespace peregrine::cli
