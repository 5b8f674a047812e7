// The command line: subcommands as a table (rr's Command.h is the model). Options land in
// plain structs; the Program_options variables_map never leaves this directory.
#pragma once
#include "run/process_runner.hpp"

#include <atomic>
#include <string>
#include <vector>

namespace racehunt {

// Exit statuses (README.md, "Command line").
enum class ExitCode : int {
    Ok = 0,          // every run passed
    Failures = 1,    // at least one run failed, hung or crashed
    Usage = 2,       // bad command line or scenario: nothing was run
    Internal = 3,    // racehunt itself failed
    Interrupted = 130,
};

// What a command needs from the process it runs in.
struct Session {
    Cancellation cancel;                  // Ctrl-C / SIGTERM cancel every run in flight
    std::atomic<bool> interrupted{false}; // set by the signal thread
};

struct Command {
    const char* name;
    const char* summary;
    const char* usage;
    ExitCode (*execute)(const std::vector<std::string>& args, Session& session);
    std::string (*options)(); // the options, formatted for `racehunt NAME --help`
};

const std::vector<Command>& commands();

ExitCode cmd_run(const std::vector<std::string>& args, Session& session);
ExitCode cmd_replay(const std::vector<std::string>& args, Session& session);
ExitCode cmd_minimize(const std::vector<std::string>& args, Session& session);
ExitCode cmd_merge(const std::vector<std::string>& args, Session& session);
ExitCode cmd_compare(const std::vector<std::string>& args, Session& session);

// The whole program; harness/main.cpp only calls this.
int main(int argc, char** argv);

} // namespace racehunt
