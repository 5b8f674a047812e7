#include "campaign/filing.hpp"

#include "analysis/decisions.hpp"
#include "analysis/interleaving.hpp"
#include "plan/pins.hpp"
#include "util/strings.hpp"

#include <fstream>
#include <string>

namespace racehunt {

namespace fs = std::filesystem;

namespace {

bool write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    return static_cast<bool>(out);
}

std::string run_title(const RunRecord& r) {
    return "run " + std::to_string(r.run) + ", seed " + util::hex64(r.seed);
}

} // namespace

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

void write_dump_file(const fs::path& run_dir, const MergedDump& dump, const RunRecord& r) {
    if (!dump.empty())
        write_text(run_dir / "dump.txt", render_dump(dump, run_title(r) + ", " + r.signature));
}

void write_decision_files(const RunDir& run, const RunRecord& r, std::optional<double> switch_interval,
                          bool interleaving) {
    write_text(run.path / "decisions.txt", render_decisions(run, switch_interval, run_title(r)));
    if (interleaving) {
        const std::string title = run_title(r) + ", " + r.signature;
        std::string steps = render_interleaving(run, title);
        if (!steps.empty()) {
            write_text(run.path / "interleaving.txt", steps);
            write_text(run.path / "interleaving.html", render_interleaving_html(run, title));
        }
    }
    write_text(run.path / "decisions.pins",
               pins_to_text(collect_decisions(run, switch_interval),
                            "every perturbation of run " + std::to_string(r.run) + ", seed " +
                                util::hex64(r.seed) + " of " + r.scenario + "\n" +
                                "replay a subset: racehunt replay SCENARIO --seed " + util::hex64(r.seed) +
                                " --pins THIS-FILE"));
}

void file_run(const fs::path& out_dir, const fs::path& run_dir, RunRecord& r, const std::string& replay_script) {
    const fs::path dest = file_failure(out_dir, r.seed, run_dir);
    r.artifacts = dest.string();
    write_text(dest / "replay.sh", replay_script);
    std::error_code ec;
    fs::permissions(dest / "replay.sh", fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add, ec);
    write_text(dest / "run.json", r.to_json().dump(2) + "\n");
}

} // namespace racehunt
