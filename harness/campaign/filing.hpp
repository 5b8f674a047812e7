// What a failing run leaves for its reader: the reports written into its directory (dump.txt,
// decisions.txt, decisions.pins, interleaving.txt/.html), then the directory moved to
// out/failures/<RUNSEED> (or <RUNSEED>-2, -3, ... when the same seed failed before: replay
// --repeat) with replay.sh and run.json. Workers of one campaign file in parallel.
#pragma once
#include "analysis/dump.hpp"
#include "analysis/record.hpp"
#include "analysis/run_dir.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace racehunt {

// Moves run_dir to a failures/ directory no other run holds and returns where it went; on
// an error (another file system, no room) the run stays where it is and run_dir comes back.
std::filesystem::path file_failure(const std::filesystem::path& out_dir, std::uint64_t seed,
                                   const std::filesystem::path& run_dir);

// dump.txt, under a title naming the run and its signature; nothing for an empty dump.
void write_dump_file(const std::filesystem::path& run_dir, const MergedDump& dump, const RunRecord& r);

// decisions.txt and decisions.pins of a run directory read with read_failure_files, and,
// for a controlled or traced run (`interleaving`), interleaving.txt and interleaving.html.
void write_decision_files(const RunDir& run, const RunRecord& r, std::optional<double> switch_interval,
                          bool interleaving);

// file_failure, then replay.sh (executable) and run.json (the record, with `artifacts` set
// to where the run went) beside the run's files.
void file_run(const std::filesystem::path& out_dir, const std::filesystem::path& run_dir, RunRecord& r,
              const std::string& replay_script);

} // namespace racehunt
