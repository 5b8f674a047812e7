#include "campaign/filing.hpp"

#include "util/strings.hpp"

#include <string>

namespace racehunt {

namespace fs = std::filesystem;

fs::path file_failure(const fs::path& out_dir, std::uint64_t seed, const fs::path& run_dir) {
    const fs::path base = out_dir / "failures" / util::hex64(seed);
    std::error_code ec;
    fs::create_directories(base.parent_path(), ec);
    // Claim a name by creating it: mkdir is atomic, so two workers that fail the same seed
    // at once never pick the same name (a test-then-rename would let the second rename
    // fail on the first's non-empty directory). rename(2) then replaces the empty claim.
    for (int n = 1; n < 100000; ++n) {
        const fs::path candidate = n == 1 ? base : fs::path(base.string() + "-" + std::to_string(n));
        if (!fs::create_directory(candidate, ec)) {
            if (ec)
                return run_dir;
            continue; // taken
        }
        fs::rename(run_dir, candidate, ec);
        if (!ec)
            return candidate;
        fs::remove(candidate, ec);
        return run_dir;
    }
    return run_dir;
}

} // namespace racehunt
