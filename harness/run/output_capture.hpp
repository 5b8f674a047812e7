// Captures one output stream of a run into a file with bounded memory: the first `head`
// bytes go straight to the file, the last `tail` bytes are kept in a ring and appended at
// the end with a marker saying how much was left out. A workload printing 1 GB costs
// racehunt `tail` bytes of memory and the file `head + tail` bytes of disk.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace racehunt {

class OutputCapture {
public:
    OutputCapture(std::filesystem::path file, std::size_t head, std::size_t tail);
    ~OutputCapture();
    OutputCapture(const OutputCapture&) = delete;
    OutputCapture& operator=(const OutputCapture&) = delete;

    void append(const char* data, std::size_t n);
    // Writes the tail and closes the file. Idempotent.
    void finish();

    std::uint64_t bytes() const { return total_; }
    std::uint64_t omitted() const { return total_ > head_ + ring_used_ ? total_ - head_ - ring_used_ : 0; }

private:
    void write_all(const char* data, std::size_t n);

    std::filesystem::path file_;
    int fd_ = -1;
    std::size_t head_, tail_;
    std::uint64_t total_ = 0;
    std::vector<char> ring_;
    std::size_t ring_pos_ = 0, ring_used_ = 0;
    bool finished_ = false;
};

} // namespace racehunt
