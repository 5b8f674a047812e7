// libFuzzer target: the command-line parser of run, replay and minimize. The input is the
// argument list, NUL-separated; the first byte picks the subcommand. Any input is either
// options or a util::Error that names the option or operand at fault.
#include "cli/options.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    const auto kind = static_cast<racehunt::CommandKind>(data[0] % 3);
    std::vector<std::string> args;
    std::string cur;
    for (std::size_t i = 1; i < size; ++i) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(static_cast<char>(data[i]));
        }
    }
    if (!cur.empty())
        args.push_back(cur);
    try {
        racehunt::parse_run_options(args, kind);
    } catch (const util::Error& e) {
        if (e.where().empty()) {
            std::fprintf(stderr, "error without a location: %s\n", e.what());
            std::abort();
        }
    }
    return 0;
}
