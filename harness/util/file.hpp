// Files written the careful way: close-on-exec descriptors (children of a run must not
// inherit them), whole lines per write, atomic replacement for summaries.
#pragma once
#include <filesystem>
#include <string>

namespace util {

// An append-only file; each write() call lands whole or fails. Survives a kill -9 of the
// writer: what was written is in the kernel.
class AppendFile {
public:
    AppendFile() = default;
    ~AppendFile();
    AppendFile(const AppendFile&) = delete;
    AppendFile& operator=(const AppendFile&) = delete;

    // Throws util::Error (Usage) naming the path when it cannot be opened.
    void open(const std::filesystem::path& path, bool truncate);
    // Returns false when the write failed (disk full...). The caller decides what to say.
    bool write(const std::string& data);
    bool is_open() const { return fd_ >= 0; }
    const std::filesystem::path& path() const { return path_; }

private:
    int fd_ = -1;
    std::filesystem::path path_;
};

// Writes to a temporary file beside `path`, then renames it over `path`.
// Throws util::Error (Usage) naming the path on failure.
void write_file_atomic(const std::filesystem::path& path, const std::string& data);

// The whole content of a file; empty when it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);

// Checks that a directory can be created and written, by creating it and a probe file.
// Throws util::Error (Usage) naming `what` (an option or key) and the path.
void ensure_writable_dir(const std::filesystem::path& dir, const std::string& what);

} // namespace util
