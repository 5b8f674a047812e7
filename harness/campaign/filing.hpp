// Where a failing run's directory goes: out/failures/<RUNSEED>, or <RUNSEED>-2, -3, ... when
// the same seed failed before (replay --repeat). Workers of one campaign file in parallel.
#pragma once
#include <cstdint>
#include <filesystem>

namespace racehunt {

// Moves run_dir to a failures/ directory no other run holds and returns where it went; on
// an error (another file system, no room) the run stays where it is and run_dir comes back.
std::filesystem::path file_failure(const std::filesystem::path& out_dir, std::uint64_t seed,
                                   const std::filesystem::path& run_dir);

} // namespace racehunt
