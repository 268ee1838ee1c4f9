// peregrine: run, inspect, generate with and serve ONNX models.
//
// Exit codes: 0 success (and --help, --version); 1 the command failed (bad model, bad input - one
// "error: ..." line on stderr); 2 bad command line (the error, then the usage of the command).
#include <exception>
#include <iostream>
#include <new>

#include "cli/commands.h"

// The build passes the project version; the fallback keeps a bare compile working.
#ifndef PEREGRINE_VERSION
#define PEREGRINE_VERSION "0.1.0"
#endif

namespace {

constexpr int kCommandFailed = 1;
constexpr int kUsageError = 2;

// On a command-line error: the message, then the usage of the (sub)command being parsed.
std::string UsageOnError(const CLI::App* app, const CLI::Error& e) {
  const CLI::App* target = app;
  while (!target->get_subcommands().empty()) target = target->get_subcommands().back();
  return std::string("error: ") + e.what() + "\n\n" + target->help();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Peregrine: a low-latency ONNX inference engine and server"};
  app.name("peregrine");
  app.set_version_flag("--version", std::string("peregrine ") + PEREGRINE_VERSION);
  app.require_subcommand(1);
  app.failure_message(UsageOnError);
  peregrine::cli::AddRunCommand(app);
  peregrine::cli::AddInspectCommand(app);
  peregrine::cli::AddGenerateCommand(app);
  peregrine::cli::AddServeCommand(app);
  peregrine::cli::AddBenchCommand(app);
  if (argc <= 1) {
    std::cerr << "error: no command given\n\n" << app.help();
    return kUsageError;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  } catch (const peregrine::cli::CommandError& e) {
    std::cerr << "error: " << e.message << "\n";
    return e.exit_code;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return kCommandFailed;
  } catch (const std::exception& e) {
    // Third-party libraries report some failures by throwing; never let them abort the process.
    std::cerr << "error: " << e.what() << "\n";
    return kCommandFailed;
  }
  return 0;
}
