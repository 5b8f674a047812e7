#include "report/write_reports.hpp"

#include "report/junit.hpp"
#include "util/file.hpp"

namespace racehunt {

std::string write_reports(const CampaignSummary& summary, const std::filesystem::path& dir,
                          const std::optional<std::filesystem::path>& json_file,
                          const std::optional<std::filesystem::path>& junit_file) {
    const std::string json = summary.to_json().dump(2) + "\n";
    util::write_file_atomic(dir / "summary.json", json);
    std::string written = (dir / "summary.json").string();
    if (json_file) {
        util::write_file_atomic(*json_file, json);
        written += ", " + json_file->string();
    }
    if (junit_file) {
        util::write_file_atomic(*junit_file, junit_xml(summary));
        written += ", " + junit_file->string();
    }
    return written;
}

} // namespace racehunt
