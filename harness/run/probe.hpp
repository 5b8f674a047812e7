// Short helper commands racehunt runs for itself (interpreter version, byte-compiling the
// bootstrap), through the same reaper as the runs so that no waitpid ever races.
#pragma once
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct ProbeResult {
    int exit_code = -1; // -1: killed or timed out
    std::string output; // stdout, at most 64 KiB
};

// Runs argv (argv[0] an absolute path) with racehunt's environment, stdin and stderr on
// /dev/null. nullopt when it could not be started.
// `extra_env`: variables set (or replaced) on top of racehunt's environment. `cwd`: the
// working directory (empty: racehunt's).
std::optional<ProbeResult> run_probe(const std::vector<std::string>& argv,
                                     std::chrono::milliseconds timeout,
                                     const std::map<std::string, std::string>& extra_env = {},
                                     const std::filesystem::path& cwd = {});

} // namespace racehunt
