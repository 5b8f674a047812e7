#include "minimize/journal.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

namespace racehunt {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path journal_path(const fs::path& out_dir) {
    return out_dir / "minimize.jsonl";
}

EarlierSession read_journal(const fs::path& out_dir, std::uint64_t seed, int k, int n) {
    const fs::path log_path = journal_path(out_dir);
    EarlierSession earlier;
    const std::string text = util::read_file(log_path);
    std::istringstream in(text);
    std::string line;
    std::uint64_t good = 0, offset = 0;
    while (std::getline(in, line)) {
        offset += line.size() + 1;
        json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object() || offset > text.size())
            continue; // a line cut short by a kill
        good = offset;
        if (j.value("step", "") == "start") {
            if (j.value("confirm", "") != std::to_string(k) + "/" + std::to_string(n))
                throw util::usage_error("--confirm", "the earlier session judged candidates at " +
                                                         j.value("confirm", std::string("?")),
                                        "resume with --confirm " + j.value("confirm", std::string("?")));
            if (j.value("seed", "") != util::hex64(seed))
                throw util::usage_error("--resume", log_path.string() + " minimized seed " + j.value("seed", "?"),
                                        "resume with --seed " + j.value("seed", "?") + ", or choose another --out");
            earlier.signature = j.value("signature", "");
            earlier.failing_run = j.value("failing_run", "");
            earlier.items = j.value("items", std::uint64_t{0});
        } else if (j.contains("candidate")) {
            earlier.verdicts[j["candidate"].get<std::string>()] = j.value("reproduces", false);
        }
    }
    std::error_code ec;
    if (earlier.signature.empty() || !fs::is_directory(earlier.failing_run, ec))
        throw util::usage_error("--resume", "no minimization to resume in " + out_dir.string(),
                                "run it without --resume first (the same --out)");
    if (good < text.size())
        fs::resize_file(log_path, good, ec); // drop the cut line before appending
    return earlier;
}

void Journal::open(const fs::path& out_dir, bool append) {
    file_.open(journal_path(out_dir), /*truncate=*/!append);
}

void Journal::start(std::uint64_t seed, const std::string& signature, const fs::path& failing_run,
                    std::size_t items, int k, int n) {
    file_.write(json({{"step", "start"}, {"seed", util::hex64(seed)}, {"signature", signature},
                      {"failing_run", failing_run.string()}, {"items", items},
                      {"confirm", std::to_string(k) + "/" + std::to_string(n)}})
                    .dump() +
                "\n");
}

void Journal::verdict(const CandidateVerdict& v) {
    json line = {{"step", v.step},       {"size", v.size},
                 {"runs", v.runs},       {"matched", v.matched},
                 {"reproduces", v.reproduces}, {"other_failures", v.other_failures},
                 {"candidate", v.candidate}};
    file_.write(line.dump() + "\n");
}

} // namespace racehunt
