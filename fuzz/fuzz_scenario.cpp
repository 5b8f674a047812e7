// libFuzzer target: the scenario parser. Any input is either a scenario or a util::Error
// that names a place in the file; anything else (a crash, another exception, an error
// without a location, a hang) is a bug.
#include "scenario/scenario.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        racehunt::Scenario s = racehunt::parse_scenario(text, "/fuzz/scenario.toml");
        // What parses must render and parse back to the same content.
        racehunt::Scenario back = racehunt::parse_scenario(racehunt::scenario_to_toml(s), "/fuzz/scenario.toml");
        if (!back.same_content(s)) {
            std::fprintf(stderr, "round trip changed the scenario\n");
            std::abort();
        }
    } catch (const util::Error& e) {
        if (e.where().rfind("/fuzz/scenario.toml", 0) != 0) {
            std::fprintf(stderr, "error without a location: %s\n", e.what());
            std::abort();
        }
    }
    return 0;
}
