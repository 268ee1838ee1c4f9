// peregrine: run, inspect and (later) serve ONNX models.
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Peregrine: a low-latency ONNX inference engine and server"};
  app.require_subcommand(1);
  peregrine::cli::AddRunCommand(app);
  peregrine::cli::AddInspectCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const peregrine::cli::CommandError& e) {
    std::cerr << "error: " << e.message << "\n";
    return e.exit_code;
  }
  return 0;
}
