#include "report/results_file.hpp"

#include "util/error.hpp"

#include <fstream>

namespace racehunt {

ResultsFileInfo read_results(
    const std::filesystem::path& file,
    const std::function<void(RunRecord&&, const std::string& line, std::uint64_t number)>& each) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw util::usage_error(file.string(), "cannot read this results file", "check the path");
    ResultsFileInfo info;
    std::string line;
    std::uint64_t number = 0, offset = 0;
    while (std::getline(in, line)) {
        ++number;
        const bool complete = !in.eof(); // getline stopped at a newline
        const std::uint64_t end = offset + line.size() + (complete ? 1 : 0);
        if (line.empty() && complete) {
            offset = end;
            info.valid_bytes = end;
            continue;
        }
        RunRecord r;
        bool ok = false;
        std::string why;
        try {
            r = RunRecord::from_json(nlohmann::json::parse(line));
            ok = true;
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (!ok || !complete) {
            if (in.peek() == std::char_traits<char>::eof()) {
                // The last line: cut short by a kill in the middle of a write.
                info.truncated_tail = true;
                break;
            }
            throw util::usage_error(file.string() + ":" + std::to_string(number),
                                    "not a run record: " + why,
                                    "results files hold one JSON object per line, as racehunt wrote them");
        }
        each(std::move(r), line, number);
        ++info.lines;
        offset = end;
        info.valid_bytes = end;
    }
    return info;
}

} // namespace racehunt
